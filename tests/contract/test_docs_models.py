"""docs/models.md states the built-in catalog: its table is the one `catalog_table()` writes from
`refvid.catalog.BUILT_IN`, so a limit changed in code without the doc (or the reverse) fails here."""

from __future__ import annotations

from pathlib import Path

from refvid import catalog

DOC = Path(__file__).resolve().parents[2] / "docs" / "models.md"
BEGIN, END = "<!-- catalog table: generated from refvid.catalog.BUILT_IN -->", "<!-- end of catalog table -->"


def catalog_table() -> str:
    rows = ["| id | mode | tier | images / videos / audios / in all | audio only | duration (s) | resolutions | "
            "output | draft | Ark ids |", "|---|---|---|---|---|---|---|---|---|---|"]
    for m in catalog.BUILT_IN:
        duration = f"{m.min_duration}–{m.max_duration}" + (", -1" if m.auto_duration else "")
        rows.append(f"| `{m.id}` | {m.mode} | {m.tier} | {m.max_images} / {m.max_videos} / {m.max_audios} / "
                    f"{m.max_references} | {'yes' if m.audio_only else 'no'} | {duration} | "
                    f"{', '.join(m.resolutions)} | {', '.join(m.output_formats)} | {'yes' if m.draft else 'no'} | "
                    f"{', '.join(f'`{i}`' for i in m.ark_ids)} |")
    return "\n".join(rows)


def test_models_doc_table_is_the_catalog() -> None:
    text = DOC.read_text()
    stated = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert stated == catalog_table()


def test_models_doc_names_every_operator_key() -> None:
    text = DOC.read_text()
    missing = [key for key in catalog.ModelTable.model_fields if f"`{key}`" not in text]
    assert missing == []
