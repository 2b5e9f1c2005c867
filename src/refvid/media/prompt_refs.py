"""What the `@Image2`, `@Video1`, `@Audio1` mentions of a prompt ask of the engines (spec §3).

The grammar itself (any case, the Chinese forms, no space before the number) is `refvid.contract`'s, the one
that validation uses too, so an engine never reads a prompt differently from the check that accepted it.
Numbers are 1-based in the prompt and 0-based here (`Mention.index`), like `Reference.index`.

Besides order, the prompt tells what a video is for: "the camera movement of @Video1" asks for its motion,
"@Video1 of a street" for its footage. `video_roles` reads that from the words around each mention.
"""

from __future__ import annotations

import re
from typing import Literal

from refvid import contract
from refvid.contract import MediaKind, Mention

__all__ = ["Mention", "VideoRole", "find_mentions", "mention_order", "mentioned", "video_roles"]

VideoRole = Literal["content", "motion"]

# Words that, in the same clause as a video mention, mean "use its camera motion" rather than its footage.
_MOTION_WORDS = re.compile(
    r"\b(camera|motion|movements?|mov(e|es|ing)|pan(s|ned|ning)?|zoom\w*|rotat\w*|dolly|track(s|ing)?|orbit\w*|"
    r"tilt\w*|trajector\w*|handheld|shak\w*|push[- ]?in|pull[- ]?out|crane)\b|"
    r"运镜|摄像机|相机|运动|移动|推拉|平移|旋转|缩放|摇镜|跟拍|轨迹",
    re.IGNORECASE,
)
# Clause boundaries: sentence punctuation in both scripts, and line breaks.
_CLAUSE_END = re.compile(r"[.;!?\n。；！？，,]")


def find_mentions(prompt: str) -> list[Mention]:
    """All mention tokens that can name a list element (number ≥ 1), in prompt order, duplicates kept."""
    return [m for m in contract.find_mentions(prompt) if m.number >= 1]


def mentioned(prompt: str, kind: MediaKind, count: int) -> list[int]:
    """0-based indices of `kind` mentioned in the prompt, in order of first mention, within `range(count)`."""
    seen: list[int] = []
    for m in find_mentions(prompt):
        if m.kind == kind and m.index < count and m.index not in seen:
            seen.append(m.index)
    return seen


def mention_order(prompt: str, kind: MediaKind, count: int) -> list[int]:
    """Every index in `range(count)`: mentioned ones in prompt order, then the rest in list order.

    `"@Image2 … then @Image1"` with three images → `[1, 0, 2]`.
    """
    first = mentioned(prompt, kind, count)
    return first + [i for i in range(count) if i not in first]


def _clause_around(prompt: str, start: int, end: int) -> str:
    left = max((m.end() for m in _CLAUSE_END.finditer(prompt, 0, start)), default=0)
    right_match = _CLAUSE_END.search(prompt, end)
    right = right_match.start() if right_match else len(prompt)
    return prompt[left:right]


def video_roles(prompt: str, count: int, *, have_images: bool) -> list[VideoRole]:
    """What each video reference is for.

    Without images every video is footage (there is nothing else to show). With images, a video is footage
    when some mention of it stands in a clause without camera/motion words, and a motion source otherwise
    (including when it is not mentioned at all). Motion is estimated from every video either way.
    """
    if not have_images:
        return ["content"] * count
    roles: list[VideoRole] = ["motion"] * count
    for m in find_mentions(prompt):
        if m.kind == "video" and m.index < count:
            clause = _clause_around(prompt, m.start, m.end)
            clause = clause.replace(prompt[m.start:m.end], " ")
            if not _MOTION_WORDS.search(clause):
                roles[m.index] = "content"
    return roles
