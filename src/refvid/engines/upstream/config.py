"""The operator's pool file (`REFVID_UPSTREAMS=upstreams.toml`, or `--upstreams FILE`): the remote task APIs this
deployment forwards tasks to, one `[[upstream]]` table each.

    [[upstream]]
    name = "h3-a"                       # unique; shown in GET /v1/models and metrics
    provider = "vllm-omni"              # ark | vllm-omni | sglang
    url = "http://10.0.0.5:8091"        # the operator's: may be a private address (users can never steer here)
    api_key_env = "H3_A_KEY"            # or api_key = "…" (never shown anywhere)
    model = "MiniMaxAI/MiniMax-H3"      # the upstream's served model name
    serves = ["seedance-2.0-reference-to-video"]
    family = "minimax-h3"               # capability preset (families.py)
    max_in_flight = 2                   # jobs at once on this upstream (default 1)
    submit = "multipart"                # SGLang: "json" | "multipart"; vLLM-Omni takes multipart only
    references = "files"                # "files" (multipart uploads) | "data-urls" (base64 `data:` URLs in
                                        #  JSON fields): either way the upstream never fetches a URL
    [upstream.accepts]                  # per-key overrides of the family preset
    max_duration_s = 10
    [upstream.request]                  # fields merged into every job sent here
    num_inference_steps = 4

Timing keys (optional): `poll_interval_s` (1), `expected_run_s` (what the progress estimate assumes, 120),
`timeout_s` (one HTTP request, 30), `job_timeout_s` (a job running longer fails, 3600).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from refvid import catalog
from refvid.engines.upstream.families import Family, family_named

Provider = Literal["ark", "vllm-omni", "sglang"]
DEFAULT_FAMILY: dict[str, str] = {"ark": "seedance", "vllm-omni": "minimax-h3", "sglang": "wan"}


class UpstreamConfig(BaseModel):
    """One `[[upstream]]` table, checked when the file is read (a mistake stops `serve`, naming the key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    provider: Provider
    url: str
    api_key: str | None = Field(None, repr=False)
    api_key_env: str | None = None
    model: str | None = None
    serves: tuple[str, ...] = Field(min_length=1)
    family: str | None = None
    accepts: dict[str, Any] = Field(default_factory=dict)
    max_in_flight: int = Field(1, ge=1, le=1024)
    submit: Literal["json", "multipart"] = "multipart"
    references: Literal["files", "data-urls"] = "files"
    request: dict[str, Any] = Field(default_factory=dict)
    poll_interval_s: float = Field(1.0, gt=0)
    expected_run_s: float = Field(120.0, gt=0)
    timeout_s: float = Field(30.0, gt=0)
    job_timeout_s: float = Field(3600.0, gt=0)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials (use api_key / api_key_env)")
        return value.rstrip("/")

    @field_validator("serves")
    @classmethod
    def _known_models(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        models = catalog.active()
        unknown = [m for m in value if m not in models]
        if unknown:
            raise ValueError(f"unknown model id(s) {', '.join(unknown)}; known: {', '.join(models)}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> UpstreamConfig:
        self.capabilities  # noqa: B018  (an unknown family or accepts key fails here, at load time)
        if self.provider == "ark" and not self.model:
            raise ValueError("an Ark upstream needs `model` (the Ark model or endpoint id)")
        if self.provider == "vllm-omni" and self.submit == "json":
            raise ValueError("vLLM-Omni takes multipart/form-data only: submit must be \"multipart\"")
        return self

    @property
    def capabilities(self) -> Family:
        return family_named(self.family or DEFAULT_FAMILY[self.provider], self.accepts)

    def capabilities_for(self, model: str) -> Family:
        """What this upstream honours for `model`: its family's preset (Seedance: the model's catalog entry,
        `Family.for_model`), then the operator's `[upstream.accepts]` keys."""
        preset = family_named(self.family or DEFAULT_FAMILY[self.provider])
        return preset.for_model(catalog.active().get(model)).with_overrides(self.accepts)

    def key(self) -> str | None:
        """The API key: `api_key`, else the variable `api_key_env` names (read when used, never shown)."""
        if self.api_key:
            return self.api_key
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    @property
    def origin(self) -> tuple[str, str, int]:
        """scheme, host, port of `url`: results are downloaded from this origin only."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.scheme, (parts.hostname or "").lower(), port

    def describe(self) -> dict[str, object]:
        """For `GET /v1/models`: no key and no URL (it may name a private host or carry a secret path)."""
        return {"name": self.name, "provider": self.provider, "model": self.model, "max_in_flight": self.max_in_flight,
                "accepts": self.capabilities.describe()}


class PoolFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    upstream: list[UpstreamConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> PoolFile:
        names = [u.name for u in self.upstream]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"upstream names must be unique: {', '.join(duplicated)}")
        return self


class PoolFileError(ValueError):
    """The pool file cannot be used; the message names the file and the key."""


def load_upstreams(path: Path | None) -> tuple[UpstreamConfig, ...]:
    """The upstreams of the pool file (none when no file is configured)."""
    if path is None:
        return ()
    try:
        data = tomllib.loads(Path(path).read_text())
        return tuple(PoolFile.model_validate(data).upstream)
    except OSError as exc:
        raise PoolFileError(f"cannot read the upstreams file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PoolFileError(f"the upstreams file {path} is not valid TOML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise PoolFileError(f"the upstreams file {path} is invalid: {problems}") from exc
