"""The labels a served model expects for the prompt's `@ImageN` / `@VideoN` / `@AudioN` mentions, stated once for
every engine that sends a prompt to such a model: the in-process diffusion adapters and the upstream providers
(vLLM-Omni, SGLang) serving the same family.

MiniMax-H3 reads its references in a fixed order (images, videos, audios, each in request order) and numbers its
labels per modality; a reference video with a soundtrack also takes an `<Audio j>` number before the audio clips,
so `@ImageN` → `<Picture N>`, `@VideoK` → `<Video K>`, `@AudioJ` → `<Audio S+J>` where S is the number of
reference videos that carry sound. Light on purpose (no numpy, no torch): the upstream engine imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from refvid.contract import Mention, replace_mentions
from refvid.media.info import Reference

KIND_ORDER = ("image", "video", "audio")
LabelStyle = Literal["h3", "plain"]


def ordered(references: Sequence[Reference]) -> list[Reference]:
    """The fixed order MiniMax-H3 reads references in: images, videos, audios (each in request order)."""
    return [ref for kind in KIND_ORDER for ref in sorted(references, key=lambda r: r.index) if ref.kind == kind]


def h3_prompt(prompt: str, references: Sequence[Reference]) -> str:
    """`@ImageN`/`@VideoK`/`@AudioJ` → the labels MiniMax-H3 was trained with, numbered as it numbers them."""
    sounding_videos = sum(1 for ref in references if ref.kind == "video" and ref.info.has_audio)
    counts = {kind: sum(1 for ref in references if ref.kind == kind) for kind in KIND_ORDER}

    def label(mention: Mention) -> str:
        if not 1 <= mention.number <= counts[mention.kind]:
            return mention.text  # validation refuses these; keep the text rather than invent a label
        if mention.kind == "image":
            return f"<Picture {mention.number}>"
        if mention.kind == "video":
            return f"<Video {mention.number}>"
        return f"<Audio {sounding_videos + mention.number}>"

    return replace_mentions(prompt, label)


def plain_prompt(prompt: str) -> str:
    """`@Image2` → `Image 2`: for models trained on no reference labels of their own."""
    return replace_mentions(prompt, lambda m: f"{m.kind.capitalize()} {m.number}")


def labelled_prompt(prompt: str, references: Sequence[Reference], style: LabelStyle) -> str:
    """The prompt rewritten in a family's label style."""
    return h3_prompt(prompt, references) if style == "h3" else plain_prompt(prompt)
