"""The README and docs/*.md are a newcomer's first hour: every relative link must open a file of this
repository (not a sibling checkout that only the authors have), and every `REFVID_*` setting must be named
in the README's settings table, so a setting added to `refvid.config.Settings` cannot stay undocumented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from refvid.config import Settings

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_CODE_SPAN = re.compile(r"`[^`\n]*`")
_INLINE = re.compile(r"\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_DEFINITION = re.compile(r"^\s{0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|//|#)", re.I)


def relative_links(page: Path) -> list[str]:
    """Link targets of `page` that point into the repository (no scheme, not a bare #anchor), without
    their #anchor; code blocks and code spans are not links."""
    text = _CODE_SPAN.sub("", _FENCE.sub("", page.read_text()))
    targets = _INLINE.findall(text) + _DEFINITION.findall(text)
    return [target.split("#", 1)[0] for target in targets if not _EXTERNAL.match(target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_open_files_of_this_repository(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        path = (page.parent / target).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            broken.append(target)
    assert broken == [], f"{page.relative_to(ROOT)} links to files that are not in the repository: {broken}"


def test_link_reader_sees_inline_and_reference_links_but_not_code_or_urls(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("See [a](docs/a.md#part), [b](<b.md>) and [site](https://example.com/x.md).\n"
                    "`[not](code.md)` and [anchor](#here)\n\n```md\n[fenced](fenced.md)\n```\n\n[ref]: ref.md\n")
    assert relative_links(page) == ["docs/a.md", "b.md", "ref.md"]
    assert "docs/compositor.md" in relative_links(ROOT / "README.md")


def test_every_setting_is_named_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [f"REFVID_{name.upper()}" for name in Settings.model_fields
               if not re.search(rf"\bREFVID_{name.upper()}\b", readme)]
    assert missing == [], f"README.md does not name these settings: {missing}"
