"""The pool file (engines/upstream/config.py): what an operator may write, what stops `serve` with a message
naming the key, and what never leaves the process (keys, URLs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refvid.config import Settings
from refvid.engines import registry
from refvid.engines.upstream.config import PoolFileError, load_upstreams
from refvid.engines.upstream.transport import UpstreamHttp
from refvid.errors import TaskFailure
from tests.support.upstreams import MODEL, pool_toml, upstream


def write(tmp_path: Path, *tables: dict[str, object]) -> Path:
    path = tmp_path / "upstreams.toml"
    path.write_text(pool_toml(*tables))
    return path


def test_a_pool_file_is_read_with_family_presets_overrides_and_request_fields(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("H3_KEY", "sk-secret")
    path = write(tmp_path, upstream("h3", "vllm-omni", "http://10.0.0.5:8091", family="minimax-h3",
                                    api_key_env="H3_KEY", model="MiniMaxAI/MiniMax-H3", accepts={"max_images": 4},
                                    request={"num_inference_steps": 4}),
                 upstream("wan", "sglang", "http://127.0.0.1:30000/", submit="json", max_in_flight=3))
    h3, wan = load_upstreams(path)
    assert (h3.key(), h3.capabilities.max_images, h3.capabilities.max_videos) == ("sk-secret", 4, 3)
    assert h3.request == {"num_inference_steps": 4} and h3.max_in_flight == 1
    assert (wan.url, wan.capabilities.name, wan.submit, wan.max_in_flight) == ("http://127.0.0.1:30000", "wan",
                                                                               "json", 3)
    described = json.dumps(h3.describe())
    assert "sk-secret" not in described and "10.0.0.5" not in described

    settings = Settings(data_dir=tmp_path, upstreams=path)
    assert registry.route(settings, MODEL) == "upstream"
    offer = registry.model_offers(settings)[MODEL]
    assert offer.engine == "upstream" and offer.supports_audio  # H3 makes sound, Wan does not: one is enough
    assert [a.source for a in offer.acceptances] == ["upstream h3", "upstream wan"]
    assert "upstream" in registry.worker_engines(settings)


@pytest.mark.parametrize(("table", "named"), [
    ({"provider": "triton"}, "provider"),
    ({"url": "ftp://host/x"}, "url"),
    ({"url": "http://user:pw@host"}, "must not carry credentials"),
    ({"serves": ["sora-2"]}, "unknown model id"),
    ({"family": "nope"}, "unknown family"),
    ({"accepts": {"max_pictures": 3}}, "unknown accepts key"),
    ({"submit": "json"}, "form-data only"),
    ({"max_in_flight": 0}, "max_in_flight"),
    ({"surprise": 1}, "surprise"),
])
def test_a_wrong_key_stops_loading_with_a_message_naming_it(tmp_path: Path, table: dict[str, object],
                                                            named: str) -> None:
    path = write(tmp_path, {**upstream("omni", "vllm-omni", "http://127.0.0.1:1"), **table})
    with pytest.raises(PoolFileError, match=named):
        load_upstreams(path)


def test_duplicate_names_and_broken_toml_are_refused(tmp_path: Path) -> None:
    twice = upstream("same", "sglang", "http://127.0.0.1:1")
    with pytest.raises(PoolFileError, match="unique: same"):
        load_upstreams(write(tmp_path, twice, twice))
    (tmp_path / "bad.toml").write_text("[[upstream]\nname=")
    with pytest.raises(PoolFileError, match="not valid TOML"):
        load_upstreams(tmp_path / "bad.toml")


def test_a_result_elsewhere_than_the_upstream_is_never_fetched(tmp_path: Path) -> None:
    [config] = load_upstreams(write(tmp_path, upstream("omni", "vllm-omni", "http://127.0.0.1:9")))
    http = UpstreamHttp(config)
    try:
        for url in ("http://169.254.169.254/latest/meta-data", "https://127.0.0.1:9/v.mp4", "http://127.0.0.1:10/v"):
            with pytest.raises(TaskFailure, match="another origin"):
                http.download(url, tmp_path / "v.mp4", sleep=lambda s: None)
    finally:
        http.close()


def test_a_seedance_upstream_takes_each_served_models_limits_from_the_catalog(tmp_path: Path) -> None:
    """Ark serves the whole line as the catalog states it: 2.5 takes 30/10/10 references and 30 s, 2.0 keeps
    9/3/3 and 15 s; the operator's `accepts` still narrows both."""
    path = write(tmp_path, upstream("ark", "ark", "https://ark.example.com/api/v3",
                                    model="dreamina-seedance-2-5-260628",
                                    serves=["seedance-2.5-reference-to-video", "seedance-2.0-reference-to-video"]))
    settings = Settings(data_dir=tmp_path, upstreams=path)
    offers = registry.model_offers(settings)
    [v25] = offers["seedance-2.5-reference-to-video"].acceptances
    [v20] = offers["seedance-2.0-reference-to-video"].acceptances
    assert v25.refusal({"image": 30, "video": 10, "audio": 10}, 25, "1080p", True) is None
    assert v25.refusal({"image": 31, "video": 0, "audio": 0}, 5, "720p", True) is not None
    assert v20.refusal({"image": 10, "video": 0, "audio": 0}, 5, "720p", True) == (
        "image_urls", "image_urls has 10, it takes at most 9")
    assert v20.refusal({"image": 1, "video": 0, "audio": 0}, 25, "720p", True) == (
        "duration", "duration 25, it makes 4-15 s")
    narrowed = write(tmp_path, upstream("ark", "ark", "https://ark.example.com/api/v3", model="x",
                                        serves=["seedance-2.5-reference-to-video"], accepts={"max_images": 12}))
    [ark] = load_upstreams(narrowed)
    assert (ark.capabilities_for("seedance-2.5-reference-to-video").max_images,
            ark.capabilities_for("seedance-2.5-reference-to-video").max_duration_s) == (12, 30)
