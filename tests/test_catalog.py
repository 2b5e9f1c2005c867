"""The model catalog: the built-in Seedance 2.x line and the operator file's merge rules (base, narrow,
remove, add) and its errors, which name the file, the table and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from refvid import catalog, contract

BUILT_IN = {m.id: m for m in catalog.BUILT_IN}


def test_the_20_line_keeps_the_contract_limits() -> None:
    for model in ("seedance-2.0-reference-to-video", "seedance-2.0-fast-image-to-video",
                  "seedance-2.0-mini-text-to-video"):
        entry = BUILT_IN[model]
        assert {kind: entry.max_count(kind) for kind in contract.URL_FIELDS} == contract.MAX_COUNT
        assert (entry.max_references, entry.min_duration, entry.max_duration, entry.audio_only) == (
            contract.MAX_TOTAL_REFERENCES, contract.MIN_DURATION_S, contract.MAX_DURATION_S, False)
    assert BUILT_IN["seedance-2.0-reference-to-video"].resolutions == ("480p", "720p", "1080p")
    assert BUILT_IN["seedance-2.0-fast-reference-to-video"].resolutions == ("480p", "720p")
    assert BUILT_IN["seedance-2.0-mini-image-to-video"].resolutions == ("480p", "720p")


def test_25_and_its_ark_ids() -> None:
    entry = BUILT_IN["seedance-2.5-reference-to-video"]
    assert (entry.max_images, entry.max_videos, entry.max_audios, entry.max_references) == (30, 10, 10, 50)
    assert (entry.min_duration, entry.max_duration, entry.audio_only, entry.output_formats) == (4, 30, True,
                                                                                               ("mp4", "mov"))
    models = catalog.load(None)
    assert models.ark_models()["dreamina-seedance-2-5-260628"] == "seedance-2.5-reference-to-video"
    assert models.ark_models()["doubao-seedance-2-5-260628"] == "seedance-2.5-reference-to-video"
    assert models.sibling("seedance-2.5-reference-to-video", "image") == "seedance-2.5-image-to-video"
    assert models.sibling("seedance-2.0-fast-text-to-video", "reference") == "seedance-2.0-fast-reference-to-video"
    assert models.ark_id("seedance-2.0-mini-reference-to-video", "byteplus") == "dreamina-seedance-2-0-mini-260615"
    assert models.ark_id("seedance-2.0-reference-to-video", "volcengine") == "doubao-seedance-2-0-260128"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(text)
    return path


def test_base_narrow_remove_add(tmp_path: Path) -> None:
    models = catalog.parse(write(tmp_path, """
[[model]]
id = "seedance-2.0-fast-reference-to-video"
enabled = false

[[model]]
id = "seedance-2.5-text-to-video"
max_duration = 12
resolutions = ["720p"]

[[model]]
id = "house-style-v1"
base = "seedance-2.0-reference-to-video"
max_duration = 8
max_images = 4
engine = "compositor"

[[model]]
id = "lab-t2v"
mode = "text"
tier = "fast"
min_duration = 2
max_duration = 6
auto_duration = false
max_images = 0
max_videos = 0
max_audios = 0
max_references = 0
audio_only = false
resolutions = ["480p"]
ratios = ["16:9"]
output_formats = ["mp4"]
draft = false
"""))
    assert "seedance-2.0-fast-reference-to-video" not in models
    narrowed = models["seedance-2.5-text-to-video"]
    assert (narrowed.max_duration, narrowed.resolutions, narrowed.max_images) == (12, ("720p",), 30)
    house = models["house-style-v1"]
    assert (house.mode, house.max_duration, house.max_images, house.max_videos, house.engine) == (
        "reference", 8, 4, 3, "compositor")
    assert house.ark_ids == ()  # an Ark id means one model: the base keeps it
    assert models["lab-t2v"].mode == "text" and models.mode_of("lab-t2v") == "text"
    assert len(models) == len(catalog.BUILT_IN) - 1 + 2


@pytest.mark.parametrize(("text", "table", "key"), [
    ('[[model]]\nid = "x"\nbase = "seedance-2.0-reference-to-video"\nmax_images = -1\n', "table 1 (id 'x')",
     "'max_images'"),
    ('[[model]]\nid = "x"\nbase = "seedance-9"\n', "table 1 (id 'x')", "'base'"),
    ('[[model]]\nid = "a"\nbase = "seedance-2.0-reference-to-video"\n[[model]]\nid = "x"\nmode = "text"\n',
     "table 2 (id 'x')", "'tier'"),
    ('[[model]]\nid = "x"\nenabled = false\n', "table 1 (id 'x')", "'enabled'"),
    ('[[model]]\nid = "x"\nbase = "seedance-2.0-reference-to-video"\nresolutions = ["4k"]\n', "table 1",
     "'resolutions.0'"),
    ('[[model]]\nid = "x"\nbase = "seedance-2.0-reference-to-video"\nmin_duration = 9\nmax_duration = 8\n',
     "table 1", "'min_duration'"),
    ('[[model]]\nid = "x"\nbase = "seedance-2.0-reference-to-video"\ncolour = "red"\n', "table 1", "'colour'"),
])
def test_bad_files_name_file_table_and_key(tmp_path: Path, text: str, table: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(catalog.ModelsFileError) as caught:
        catalog.parse(path)
    message = str(caught.value)
    assert str(path) in message and table in message and f"key {key}" in message, message


def test_not_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[[model]\n")
    with pytest.raises(catalog.ModelsFileError, match="not valid TOML"):
        catalog.parse(path)
