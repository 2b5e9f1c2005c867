"""What the compositor obeys in a prompt: the words a camera operator, an editor and a colourist would act on.

The compositor invents no pixels, so it reads only three things: how the camera moves (per shot or for the
whole clip), how the clip is paced and cut, and how it is graded. English (any case) and Chinese say the same
things; a phrase maps to one canonical token, so the same words in another order or language give the same
`Directions` and therefore the same frames.

Scope: the prompt is split into clauses (at `.,;!?`, their full-width forms, `、` and line breaks). Words in a
clause that holds an `@` mention (found by `refvid.contract.find_mentions`, the one mention grammar) apply to
the shots mentioned there; words anywhere else apply to the whole clip. A clause that names a video as a
camera source ("the camera movement of @Video1", as `media.prompt_refs.video_roles` reads it for every
engine) asks for that video's camera path.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from typing import Literal, cast

from refvid import catalog
from refvid.contract import Mention, find_mentions
from refvid.media.prompt_refs import video_roles

Move = Literal["pan_left", "pan_right", "tilt_up", "tilt_down", "zoom_in", "zoom_out", "orbit", "static",
               "handheld", "crane_up", "crane_down"]
Speed = Literal["slow", "fast"]
Pace = Literal["calm", "energetic"]
Transition = Literal["crossfade", "hard"]
Look = Literal["mono", "warm", "cold", "contrast", "faded", "grain", "neon"]
ShotKey = tuple[str, int]  # (kind, 0-based index) of a mentioned reference

_AXIS: dict[str, str] = {"pan_left": "x", "pan_right": "x", "orbit": "x", "tilt_up": "y", "tilt_down": "y",
                         "crane_up": "y", "crane_down": "y", "zoom_in": "z", "zoom_out": "z", "handheld": "h",
                         "static": "s"}
_EN = r"(?<![a-z])(?:{})(?![a-z])"  # an English phrase as whole words (Chinese needs no boundaries)


def _table(*rows: tuple[str, str, str]) -> tuple[tuple[re.Pattern[str], str], ...]:
    """(English alternatives, Chinese alternatives, token) → compiled, case-insensitive patterns."""
    out = []
    for english, chinese, token in rows:
        parts = ([_EN.format(english)] if english else []) + ([chinese] if chinese else [])
        out.append((re.compile("|".join(parts), re.IGNORECASE), token))
    return tuple(out)


_SP = r"[\s-]*"
MOVES = _table(
    (rf"pan(?:s|ning|ned)?{_SP}(?:to{_SP}(?:the{_SP})?)?left|left{_SP}pan", "向左平移|向左摇|左摇|向左移|左移镜头",
     "pan_left"),
    (rf"pan(?:s|ning|ned)?{_SP}(?:to{_SP}(?:the{_SP})?)?right|right{_SP}pan", "向右平移|向右摇|右摇|向右移|右移镜头",
     "pan_right"),
    (rf"tilt(?:s|ing|ed)?{_SP}up", "上摇|向上摇|镜头上仰|仰拍", "tilt_up"),
    (rf"tilt(?:s|ing|ed)?{_SP}down", "下摇|向下摇|镜头下俯|俯拍", "tilt_down"),
    (rf"(?:zoom(?:s|ing|ed)?|push(?:es|ing|ed)?|dolly(?:ing)?|move(?:s|ing)?){_SP}in|zoom(?:s|ing)?(?!{_SP}out)|"
     rf"push{_SP}in|close{_SP}in", "推近|推镜头|推进|拉近", "zoom_in"),
    (rf"zoom(?:s|ing|ed)?{_SP}out|pull(?:s|ing|ed)?{_SP}(?:back|out|away)|dolly(?:ing)?{_SP}out",
     "拉远|拉镜头", "zoom_out"),
    (r"orbit\w*|rotat\w*|arc shot|revolv\w*", "环绕|旋转|绕拍", "orbit"),
    (rf"static|locked{_SP}off|fixed|still camera|tripod|no camera movement", "固定镜头|镜头固定|静止镜头|固定机位",
     "static"),
    (rf"hand{_SP}held|shaky|shaking camera|camera shake", "手持|晃动", "handheld"),
    (rf"crane(?:s|ing)?{_SP}up|rising camera|jib up", "升镜头|上升镜头|摇臂上升", "crane_up"),
    (rf"crane(?:s|ing)?{_SP}down|jib down|descending camera", "降镜头|下降镜头|摇臂下降", "crane_down"),
)
SPEEDS = _table(
    ("slow(?:ly)?|gentl[ey]|subtle|soft(?:ly)?", "缓慢|缓缓|慢慢|慢速|慢动作|轻柔|轻微", "slow"),
    ("fast|quick(?:ly)?|rapid(?:ly)?|whip|swift(?:ly)?", "快速|急速|迅速|飞快|甩镜", "fast"),
)
PACES = _table(
    (rf"slow{_SP}motion|calm|lingering|linger|quiet|peaceful|serene", "慢动作|平静|宁静|舒缓|安静", "calm"),
    (rf"(?:fast|quick|rapid){_SP}cuts?|fast{_SP}paced|energetic|rapid|dynamic", "快节奏|快剪|动感|激烈|活力",
     "energetic"),
)
TRANSITIONS = _table(
    (rf"cross{_SP}fades?|dissolves?|fade between", "叠化|淡入淡出|溶解转场", "crossfade"),
    (rf"hard{_SP}cuts?|jump{_SP}cuts?|straight{_SP}cuts?|(?:fast|quick|rapid){_SP}cuts?", "硬切|快切|快剪|跳切",
     "hard"),
)
RHYTHM = _table((r"on the beat|beats?|rhythm\w*|to the music|in time with", "卡点|节奏|节拍|踩点", "rhythm"))
LOOKS = _table(
    (rf"black{_SP}(?:and|&){_SP}white|b&w|monochrome|gr[ae]yscale", "黑白|单色", "mono"),
    (rf"warm\w*|golden{_SP}hour|golden|sunset|sunrise|dawn|candle{_SP}light", "暖色|暖调|暖光|金色|夕阳|日落|黄昏|日出",
     "warm"),
    (rf"cold|cool{_SP}tones?|blue|night\w*|moonlight|winter|icy", "冷色|冷调|蓝色|夜晚|夜景|夜|月光", "cold"),
    (rf"high{_SP}contrast|contrasty|punchy", "高对比", "contrast"),
    (r"faded|vintage|retro|old film", "复古|褪色|老电影|怀旧", "faded"),
    (rf"film{_SP}grain|grainy|grain|vintage|old film", "颗粒|胶片|复古|老电影", "grain"),
    (r"neon|cyberpunk", "霓虹|赛博朋克", "neon"),
)
_MAX_VIDEOS = max(m.max_videos for m in catalog.BUILT_IN)  # the most videos any model of the line takes
_CLAUSE_END = re.compile(r"[.;!?\n。；！？，,、]")
_WORD = re.compile(r"[a-z0-9]+|[\u3400-\u9fff]", re.IGNORECASE)
_FILLERS = frozenset({"a", "an", "the", "and", "of", "with", "then", "camera", "shot", "video", "镜", "头", "的", "和",
                      "然", "后", "再"})
_ALL_TABLES = (MOVES, SPEEDS, PACES, TRANSITIONS, RHYTHM, LOOKS)


def _tokens(table: tuple[tuple[re.Pattern[str], str], ...], text: str) -> frozenset[str]:
    return frozenset(token for pattern, token in table if pattern.search(text))


def _one(found: frozenset[str], default: str | None = None) -> str | None:
    """A single value from a category's tokens: none or several contradictory ones → `default`."""
    return next(iter(found)) if len(found) == 1 else default


@dataclass(frozen=True)
class CameraWords:
    """The camera words of one scope: canonical moves and a speed ("slow", "fast" or None = normal)."""

    moves: frozenset[Move] = frozenset()
    speed: Speed | None = None

    def over(self, base: CameraWords) -> CameraWords:
        """A shot's words over the clip's: a move of the shot replaces the clip's moves on the same axis
        (a shot's "zoom out" beats the clip's "zoom in", its "pan left" keeps the clip's "zoom in"); a
        static shot holds still; a moving shot ignores a static clip."""
        if not self.moves:
            moves = base.moves
        elif "static" in self.moves:
            moves = self.moves
        else:
            taken = {_AXIS[m] for m in self.moves}
            moves = self.moves | frozenset(m for m in base.moves if _AXIS[m] not in taken and m != "static")
        return CameraWords(moves, self.speed or base.speed)


@dataclass(frozen=True)
class Directions:
    """Everything the compositor takes from a prompt. `shots` holds the camera words of each mentioned
    reference (in a canonical order); `looks` holds the grade of the whole clip and `shot_looks` the extra
    looks of single shots."""

    camera: CameraWords = CameraWords()
    shots: tuple[tuple[ShotKey, CameraWords], ...] = ()
    shot_looks: tuple[tuple[ShotKey, frozenset[Look]], ...] = ()
    pace: Pace | None = None
    transition: Transition | None = None
    rhythm: bool = False
    looks: frozenset[Look] = field(default_factory=frozenset)
    camera_from_video: bool = False
    variation: int = 0  # a fingerprint of the other words (see `_variation`)

    def camera_for(self, key: ShotKey) -> CameraWords:
        """The camera words that drive shot `key`: its own, over the clip's."""
        own = dict(self.shots).get(key, CameraWords())
        return own.over(self.camera)

    def looks_for(self, key: ShotKey) -> frozenset[Look]:
        return self.looks | dict(self.shot_looks).get(key, frozenset())

    @property
    def has_camera_words(self) -> bool:
        return bool(self.camera.moves) or any(words.moves for _, words in self.shots)


def _clauses(prompt: str) -> list[tuple[str, list[Mention]]]:
    """(text without its mentions, mentions) per clause."""
    mentions = find_mentions(prompt)
    out, start = [], 0
    for end in [m.start() for m in _CLAUSE_END.finditer(prompt)] + [len(prompt)]:
        inside = [m for m in mentions if start <= m.start < end]
        text = prompt[start:end]
        for m in sorted(inside, key=lambda m: -m.start):  # blank the tokens, keep the offsets
            text = text[: m.start - start] + " " * (m.end - m.start) + text[m.end - start:]
        out.append((text, inside))
        start = end + 1
    return out


def _variation(prompt: str) -> int:
    """A number that changes with the words the compositor cannot act on ("butterflies", "a quiet
    morning") but not with their order: it seeds the small variations of each move and look, so different
    prompts give different pixels while reordered ones give the same."""
    text = prompt
    for m in reversed(find_mentions(prompt)):
        text = text[: m.start] + " " + text[m.end:]
    for table in _ALL_TABLES:
        for pattern, _ in table:
            text = pattern.sub(" ", text)
    words = sorted({w.lower() for w in _WORD.findall(text)} - _FILLERS)
    return zlib.crc32(" ".join(words).encode())


def _camera(text: str) -> CameraWords:
    moves = _tokens(MOVES, text)
    if "static" in moves:
        moves = frozenset({"static"})  # "locked-off, no pan" style prompts: holding still wins
    return CameraWords(cast(frozenset[Move], moves), cast(Speed | None, _one(_tokens(SPEEDS, text))))


def read_prompt(prompt: str | None) -> Directions:
    """The directions in `prompt` (pure; see the module docstring for scoping)."""
    text = prompt or ""
    global_text: list[str] = []
    shots: dict[ShotKey, list[str]] = {}
    from_video = False
    roles = video_roles(text, _MAX_VIDEOS, have_images=True)  # the one reading of "camera of @VideoN"
    for clause, mentions in _clauses(text):
        named: list[ShotKey] = [(m.kind, m.index) for m in mentions if m.kind in ("image", "video")]
        if any(m.kind == "video" and 0 <= m.index < len(roles) and roles[m.index] == "motion" for m in mentions):
            from_video = True
            continue  # the words describe the video's camera, which is replayed as it is
        if not named:
            global_text.append(clause)
            continue
        for key in named:
            shots.setdefault(key, []).append(clause)
    whole = " | ".join(global_text + [clause for clauses in shots.values() for clause in clauses])
    keys = sorted(shots)
    camera_shots = [(key, _camera(" | ".join(shots[key]))) for key in keys]
    look_shots = [(key, cast(frozenset[Look], _tokens(LOOKS, " | ".join(shots[key])))) for key in keys]
    return Directions(
        camera=_camera(" | ".join(global_text)),
        shots=tuple((k, w) for k, w in camera_shots if w != CameraWords()),
        shot_looks=tuple((k, v) for k, v in look_shots if v),
        pace=cast(Pace | None, _one(_tokens(PACES, whole))),
        transition=cast(Transition | None, _one(_tokens(TRANSITIONS, whole))),
        rhythm=bool(_tokens(RHYTHM, text)),
        looks=cast(frozenset[Look], _tokens(LOOKS, " | ".join(global_text))),
        camera_from_video=from_video,
        variation=_variation(text),
    )
