"""Settings, read once from the environment (prefix `REFVID_`) and CLI flags, then passed down.

Every field here is documented in README.md ("Settings") and in `refvid --help`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from refvid.contract import IDEMPOTENCY_TTL_S, RESULT_TTL_S, UPLOAD_TTL_S

CommaList = Annotated[list[str], NoDecode]
FloatList = Annotated[list[float], NoDecode]


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """refvid's configuration. Defaults give the embedded setup: SQLite + local disk + in-process workers."""

    model_config = SettingsConfigDict(env_prefix="REFVID_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("./refvid-data"), description="Folder for the SQLite database and local storage.")
    database_url: str | None = Field(
        None, description="sqlite:///path.db or postgresql://…; default: SQLite in the data dir."
    )
    storage_url: str | None = Field(
        None, description="file:///path or s3://bucket/prefix; default: the data dir's blobs/ folder."
    )
    database_pool_size: int = Field(10, ge=1, description="PostgreSQL connections per pool (an API process has two).")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, R2, …); default: AWS.")
    s3_access_key_id: str | None = Field(None, description="S3 access key id (default: boto3's usual sources).")
    s3_secret_access_key: str | None = Field(None, description="S3 secret access key.")
    s3_region: str | None = Field(None, description="S3 region (default: boto3's usual sources).")
    api_keys: CommaList = Field(default_factory=list, description="Comma-separated API keys (default: generated).")
    public_url: str | None = Field(None, description="Base URL used in result URLs (default: the request's).")
    host: str = Field("127.0.0.1", description="Address `refvid serve` listens on.")
    port: int = Field(8000, description="Port `refvid serve` listens on.")
    workers: int = Field(1, ge=0, description="In-process workers started by `refvid serve` (0 = API only).")
    api_workers: int = Field(1, ge=1, description="API processes `refvid serve` runs on one port (embedded "
                             "workers, maintenance and webhook delivery still run once).")
    access_log: bool = Field(False, description="Log one line per HTTP request (uvicorn's access log).")
    engines: CommaList = Field(default_factory=list, description="Engines this worker runs (default: all routed).")
    routes: CommaList = Field(
        default_factory=list, description="model=engine overrides, e.g. seedance-2.0-fast-reference-to-video=diffusion."
    )

    # Task queue
    lease_s: float = Field(30.0, gt=0, description="Lease length; a worker silent for longer loses its task.")
    heartbeat_s: float = Field(2.0, gt=0, description="Heartbeat interval of a running task.")
    max_attempts: int = Field(3, ge=1, description="Attempts before a task whose worker died fails (worker_lost).")
    task_timeout_s: float = Field(3600.0, gt=0, description="Wall time after which a run fails (generation_timeout).")
    pending_deadline_s: float = Field(86400.0, gt=0, description="A task not started by then fails (expired).")
    result_ttl_s: int = Field(RESULT_TTL_S, gt=0, description="Lifetime of result URLs after completion.")
    upload_ttl_s: int = Field(UPLOAD_TTL_S, gt=0, description="Lifetime of uploaded files.")
    collect_interval_s: float = Field(60.0, gt=0, description="How often expired results and uploads are deleted "
                                      "(a pass that leaves a backlog is followed at once by the next).")

    # Reference fetching
    fetch_allow_hosts: CommaList = Field(
        default_factory=list, description="Hosts/CIDRs that may be fetched although not global (tests, private nets)."
    )
    fetch_timeout_s: float = Field(30.0, gt=0, description="Total time limit for downloading one reference.")
    fetch_max_redirects: int = Field(5, ge=0, description="Redirect hops followed when fetching a reference.")

    # Request limits
    max_body_bytes: int = Field(64 * 1024 * 1024, description="Largest request body accepted.")
    max_header_bytes: int = Field(64 * 1024, ge=1024, description="Largest request line + headers (431 past it).")
    max_header_count: int = Field(100, ge=10, description="Most header fields in one request (431 past it).")
    header_timeout_s: float = Field(10.0, gt=0, description="Time a client has to send a request's headers.")
    body_idle_timeout_s: float = Field(20.0, gt=0, description="Pause allowed within a request body.")
    write_timeout_s: float = Field(30.0, gt=0, description="Time an answer may wait for a client that stopped "
                                   "reading it (a stalled download) before the connection is cut.")
    idempotency_ttl_s: float = Field(float(IDEMPOTENCY_TTL_S), gt=0,
                                     description="How long an Idempotency-Key maps to its task.")
    rate_limit_per_minute: int = Field(
        0, ge=0, description="API requests per minute per key and API process, bursts included (0 = off, the "
        "default: a self-hosted server throttles only when its operator asks it to)."
    )
    max_open_tasks: int = Field(10000, ge=0, description="Pending + processing tasks allowed per key (0 = off).")
    credit_budget: int = Field(0, ge=0, description="Credits per key within the budget window (0 = no budget).")
    credit_budget_window_s: float = Field(
        30 * 86400.0, gt=0, description="Rolling window of the credit budget (default 30 days)."
    )

    # Webhooks (spec §8)
    webhook_retry_schedule_s: FloatList = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0],
        description="Delays before each webhook retry (Standard Webhooks schedule, about 27 h in all).",
    )
    webhook_retry_jitter: float = Field(0.1, ge=0, lt=1, description="Random spread of each retry delay (±).")
    webhook_timeout_s: float = Field(15.0, gt=0, description="Time limit of one webhook delivery.")
    webhook_concurrency: int = Field(16, ge=0, description="Webhook delivery threads of `refvid serve` (0 = none).")
    webhook_poll_s: float = Field(1.0, gt=0, description="How often idle delivery threads look for due webhooks.")
    webhook_secret_grace_s: float = Field(
        86400.0, ge=0, description="How long a rotated-out webhook secret still signs deliveries."
    )

    # Observability
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at GET /metrics.")
    metrics_port: int = Field(0, ge=0, description="`refvid worker`: serve its metrics on this port (0 = off).")

    # Relay engine (ByteDance ModelArk / Volcengine Ark)
    ark_api_key: str | None = Field(None, description="ModelArk/Ark API key; enables the relay engine.")
    ark_base_url: str = Field(
        "https://ark.ap-southeast.bytepluses.com/api/v3",
        description="Ark API base (Volcengine: https://ark.cn-beijing.volces.com/api/v3).",
    )
    ark_models: CommaList = Field(
        default_factory=list, description="model=ark-model overrides for the relay's model id map."
    )
    ark_poll_interval_s: float = Field(3.0, gt=0, description="First delay between polls of an upstream task.")
    ark_poll_max_interval_s: float = Field(15.0, gt=0, description="Longest delay between polls (backoff cap).")
    ark_timeout_s: float = Field(30.0, gt=0, description="Time limit of one HTTP request to the Ark API.")
    ark_max_retries: int = Field(5, ge=0, description="Retries of an Ark call answered 429/5xx (with backoff).")

    # Model catalog (docs/models.md)
    models: Path | None = Field(None, description="Operator model catalog ([[model]] tables, TOML): adds, narrows "
                                "or removes models (docs/models.md).")

    # Upstream engine (vLLM-Omni, SGLang Diffusion, Ark: docs/upstreams.md)
    upstreams: Path | None = Field(None, description="Pool file of upstream task APIs ([[upstream]] tables, TOML).")
    upstream_followers: int = Field(
        32, ge=0, description="Upstream jobs one worker process follows at once, on threads that hold no engine "
        "slot (0 = none; capped by the pool's total max_in_flight).")

    # Diffusion engine
    diffusion_weights: Path | None = Field(None, description="Folder holding one weights folder per model.")
    diffusion_preset: str = Field("balanced", description="Diffusion speed preset: quality | balanced | fast.")
    diffusion_device: str = Field("auto", description="auto | cuda | cpu.")
    diffusion_cpu_offload: bool = Field(False, description="Offload diffusion components to CPU between uses.")
    diffusion_vae_tiling: bool = Field(False, description="Decode the VAE in tiles to save memory.")
    diffusion_folders: CommaList = Field(
        default_factory=list,
        description="model=folder[|folder…] candidate weights folders under REFVID_DIFFUSION_WEIGHTS, first capable "
        "one wins (replaces the built-in map for the models given), e.g. "
        "seedance-2.0-reference-to-video=minimax-h3|wan-vace-14b.",
    )

    log_level: str = Field("info", description="debug | info | warning | error.")

    @field_validator("api_keys", "engines", "routes", "fetch_allow_hosts", "ark_models", "diffusion_folders",
                     mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _split_commas(value)

    @field_validator("webhook_retry_schedule_s", mode="before")
    @classmethod
    def _float_list(cls, value: Any) -> Any:
        return _split_commas(value)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'refvid.db').resolve()}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or f"file://{(self.data_dir / 'blobs').resolve()}"

    def route_overrides(self) -> dict[str, str]:
        return dict(item.split("=", 1) for item in self.routes if "=" in item)
