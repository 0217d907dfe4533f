"""Typed configuration from the environment (pydantic-settings).

Names are the environment variable names of the seed system and of the Terraform variables. Settings
are read when a composition root first needs them, never at import time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Backend = Literal["local", "gcp"]
AuthMode = Literal["dev", "token"]

LANES = ("image", "video", "wan")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    # Where records, queue and blobs live.
    soul_backend: Backend = "local"
    soul_data_dir: Path = Path(".soul-data")
    log_level: str = "INFO"
    # Metrics (shared/metrics.py): Prometheus text at /metrics always; Cloud Monitoring too in the cloud.
    soul_metrics_exporter: Literal["prometheus", "cloud_monitoring"] = "prometheus"
    # Traces (shared/tracing.py): `log` = one JSON line per ended span; Terraform sets cloud_trace.
    soul_trace_exporter: Literal["log", "cloud_trace", "off"] = "log"
    otel_exporter_otlp_endpoint: str = ""  # also export spans over OTLP/HTTP to <endpoint>/v1/traces

    # Google Cloud (the gcp backend). Emulator hosts are read by the google clients themselves.
    google_cloud_project: str = "soul-local"
    gcs_bucket_name: str = "artifacts-dev-soulmedia"
    firestore_database: str = "(default)"
    pubsub_topic: str = "soul-jobs"
    pubsub_subscription_prefix: str = "soul-jobs"
    pubsub_dead_letter_topic: str = "soul-jobs-dead"
    cloud_run_region: str = "us-central1"
    cloud_run_job_gpu: str = "soul-worker-gpu"
    cloud_run_job_wan: str = "soul-worker-wan"
    cloud_run_api_endpoint: str = ""  # empty: Google's; the rehearsal points it at its Cloud Run double
    soul_access_log: Path | None = None  # rehearsal only: shared/adapters/access_log.py
    soul_signer_email: str = ""
    soul_dispatch_interval_seconds: float = Field(default=30.0, ge=0)
    soul_max_gpu_executions: int = Field(default=4, ge=1, le=100)  # the project's Cloud Run L4 quota for jobs

    # Delivery and retries.
    soul_max_delivery_attempts: int = Field(default=5, ge=1, le=100)
    soul_ack_deadline_seconds: int = Field(default=60, ge=10, le=600)
    soul_lease_seconds: int = Field(default=120, ge=5)
    soul_retry_base_seconds: float = Field(default=2.0, ge=0)
    soul_retry_cap_seconds: float = Field(default=60.0, ge=0)

    # Worker.
    max_concurrent_tasks: int = Field(default=1, ge=1, le=16)
    soul_batch_size: int = Field(default=4, ge=1, le=16)
    soul_worker_idle_exit_seconds: float = Field(default=0.0, ge=0)
    soul_preview_step_seconds: float = Field(default=0.0, ge=0, le=10)
    # Preview only: while this file exists, the preview generator holds its running job between steps (cancel
    # still works). Tests and demos hold a job in "running" with a signal they control, not with a timing.
    soul_preview_hold_file: Path | None = None
    soul_failpoints: str = ""  # recovery tests only: gpu_jobs/failpoints.py
    # GPU speed (docs/ARCHITECTURE.md, Generators and media): torch.compile is warmed at worker start, never on a user
    # request.
    soul_torch_compile: bool = False
    soul_compile_cache_dir: Path | None = None
    soul_cfg_cutoff: float = Field(default=1.0, gt=0, le=1)
    soul_compile_vae: bool = False  # torch.compile the VAE decode too (exact; longer warm-up)
    soul_fp8: bool = False  # torchao FP8 UNet linears on GPUs with capability >= 8.9 (approximate; needs torchao)
    soul_warmup: bool = True
    # Whether styles' approximate options act on this worker; off, such specs run exact and a compiled UNet
    # warms neither the CFG-truncated half batch nor the step cache's graphs (docs/GPU.md, Warm-up).
    soul_style_cfg_cutoff: bool = True
    soul_style_step_cache: bool = True
    # The models bucket (GCS): compiled UNets' cache artifacts go under compile-cache/ (gpu_jobs/compile_cache.py)
    soul_models_bucket: str = ""
    force_cpu: bool = False
    device_memory_fraction: float = Field(default=0.8, gt=0, le=1)

    # SDXL / SVD. No path → the preview generator (clearly labelled placeholders).
    sdxl_model_path: Path | None = None
    sdxl_config_dir: Path | None = None
    sdxl_width: int = Field(default=1024, ge=64, le=2048)
    sdxl_height: int = Field(default=1024, ge=64, le=2048)
    svd_model_path: Path | None = None
    svd_num_frames: int = Field(default=25, ge=2, le=50)
    svd_fps: int = Field(default=7, ge=1, le=30)
    svd_image_width: int = Field(default=1024, ge=64, le=2048)
    svd_image_height: int = Field(default=576, ge=64, le=2048)
    svd_steps: int = Field(default=25, ge=1, le=100)
    svd_motion_bucket_id: int = Field(default=127, ge=0, le=255)
    svd_decode_chunk_size: int = Field(default=8, ge=1, le=50)
    svd_estimated_seconds_per_frame: float = Field(default=2.0, gt=0)

    # Wan text-to-video (DashScope).
    dashscope_api_key: SecretStr | None = None
    wan_api_base_url: str = "https://dashscope.aliyuncs.com/api/v1"
    wan_model: str = "wan2.5-t2v-preview"
    wan_size: str = "832*480"
    wan_duration: int = Field(default=5, ge=1, le=10)
    wan_prompt_extend: bool = True
    wan_watermark: bool = False
    wan_allowed_hosts: str = "aliyuncs.com"
    wan_max_concurrent_tasks: int = Field(default=2, ge=1)

    # API behaviour.
    soul_auth_mode: AuthMode = "dev"
    soul_signing_key: SecretStr = SecretStr("local-dev-signing-key-change-me")
    soul_url_ttl_seconds: int = Field(default=900, ge=10, le=7 * 24 * 3600)
    soul_max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    # A request body must arrive within this many seconds of the app starting to read it (408 past it):
    # under gunicorn the body is read on the request thread (docs/THREATS.md, slow bodies).
    soul_body_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    # Dev mode: Host names accepted besides loopback (comma-separated; DNS rebinding, docs/THREATS.md).
    soul_allowed_hosts: str = ""
    # Token mode: browser origins (comma-separated, e.g. https://app.example.com) allowed to call the API
    # cross-origin (CORS). Empty: none; the web pages are same-origin and need no entry.
    soul_cors_origins: str = ""
    # Request threads per API process: functions-framework's gunicorn reads THREADS (Terraform sets it,
    # with the service's concurrency <= THREADS); `soul dev` serves with as many. Long polls (`wait=`)
    # hold a thread each: at most SOUL_MAX_LONG_POLLS per process (keep it below THREADS so health
    # checks and cache hits always find a thread) and SOUL_MAX_LONG_POLLS_PER_USER per user; past
    # either, 429 with Retry-After (docs/ARCHITECTURE.md, long polls).
    threads: int = Field(default=16, ge=2, le=256)
    soul_max_long_polls: int = Field(default=8, ge=0, le=1024)
    soul_max_long_polls_per_user: int = Field(default=2, ge=0, le=64)
    # Token mode: subjects (comma-separated) that are administrators, besides tokens with `soul_admin: true`.
    soul_admin_subjects: str = ""
    # Tier-2 prompt matching (docs/ARCHITECTURE.md, Prompt keys): near-duplicate cues of one soul and kind share a
    # prompt key.
    soul_similarity_tier2: bool = False
    # Semantic tier (docs/ARCHITECTURE.md, Prompt keys): on a tier-1 miss, join the nearest existing key of the same
    # meaning. Off by default: on the independently written held-out sets it merges 42-47% of paraphrases
    # (target 80%) and up to 0.8% of hard negatives (target 0.5%); `soul bench semantic` prints the figures.
    soul_semantic_cache: bool = False
    soul_semantic_threshold: float = Field(default=0.70, ge=0, le=1)  # = shared.semantic.THRESHOLD
    soul_semantic_word_threshold: float = Field(default=0.60, ge=0, le=1)  # = shared.semantic.WORD_THRESHOLD
    soul_embedding_provider: Literal["static", "vertex"] = "static"
    soul_embedding_model: str = "text-embedding-005"  # the vertex provider's model
    soul_embedding_endpoint: str = ""  # empty: https://<CLOUD_RUN_REGION>-aiplatform.googleapis.com

    # Identity (token mode): ID tokens from Firebase Auth unless told otherwise.
    soul_jwks_url: str = "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com"
    soul_jwks_file: Path | None = None  # a local JWKS instead of the URL (tests, offline setups)
    soul_token_issuer: str = ""  # empty: https://securetoken.google.com/<GOOGLE_CLOUD_PROJECT>
    soul_token_audience: str = ""  # empty: GOOGLE_CLOUD_PROJECT
    # Tokens living longer than this (exp - iat, or exp - now) are refused: Firebase ID tokens live an hour.
    soul_token_max_lifetime_seconds: int = Field(default=86400, ge=60, le=30 * 86400)
    # The pages' sign-in (token mode): Identity Platform's email/password over its REST API. No secret here:
    # the web API key only names the project to Identity Toolkit (Terraform restricts it to those APIs).
    soul_firebase_api_key: str = ""
    soul_firebase_auth_domain: str = ""  # empty: <GOOGLE_CLOUD_PROJECT>.firebaseapp.com
    # Tests and the Firebase Auth emulator point these at loopback (http://host:port/identitytoolkit.googleapis.com/v1).
    soul_identity_toolkit_url: str = "https://identitytoolkit.googleapis.com/v1"
    soul_secure_token_url: str = "https://securetoken.googleapis.com/v1"  # noqa: S105 (a URL, not a secret)

    # Quotas, per user, checked before anything is enqueued. REDIS_URL set: Redis; else the record store.
    redis_url: SecretStr | None = None
    soul_rate_limit_per_minute: int = Field(default=30, ge=1, le=100_000)
    soul_daily_generation_cap: int = Field(default=500, ge=1, le=1_000_000)
    # Pre-generation (docs/ARCHITECTURE.md, Pre-generation; shared/pregen.py): GPU seconds per UTC day spent making the
    # next variant
    # of hot keys ahead of demand, on low-priority lanes. 0 (the default) turns it off.
    soul_pregen_daily_gpu_seconds: float = Field(default=0.0, ge=0, le=86400.0 * 64)

    # Content safety (docs/SAFETY.md). Prompts: the local rule classifier, Cloud Natural Language
    # moderateText, or off (logged loudly at start-up). Outputs: `local` has no image classifier that fits
    # (it says at start-up that outputs are not screened), `cloud` is Cloud Vision SafeSearch.
    soul_text_moderation: Literal["local", "cloud", "off"] = "local"
    soul_output_screening: Literal["local", "cloud", "off"] = "local"
    soul_safety_policy_version: str = "1"  # bump to re-check existing keys (lazily, on their next request)
    soul_strict_souls: str = ""  # comma-separated soul ids checked with strict thresholds
    # moderateText: block a category at or above this confidence (names as the API returns them).
    soul_text_thresholds: dict[str, float] = Field(
        default_factory=lambda: {
            "Sexual": 0.6,
            "Violent": 0.7,
            "Derogatory": 0.7,
            "Toxic": 0.8,
            "Insult": 0.8,
            "Illicit Drugs": 0.7,
            "Death, Harm & Tragedy": 0.8,
        }
    )
    soul_text_min_severity: float = Field(default=0.0, ge=0, le=1)  # model version 2: and at least this severity
    # SafeSearch: block a category at or above this likelihood (UNKNOWN .. VERY_LIKELY).
    soul_vision_thresholds: dict[str, str] = Field(
        default_factory=lambda: {
            "adult": "LIKELY",
            "violence": "LIKELY",
            "racy": "VERY_LIKELY",
            "medical": "VERY_LIKELY",
        }
    )
    soul_language_endpoint: str = ""  # empty: Google's; tests point it at a local fake server
    soul_vision_endpoint: str = ""
    soul_output_screen_retries: int = Field(default=1, ge=0, le=5)  # reseeded attempts after a blocked output
    soul_video_screen_frames: int = Field(default=4, ge=1, le=32)  # frames sampled from each video
    soul_reports_to_hide: int = Field(default=3, ge=1, le=10_000)  # distinct reporters that hide a variant
    # Distinct users (each within their quota) who must have asked for a key before it is pre-generated.
    soul_pregen_min_users: int = Field(default=2, ge=1, le=1000)

    @property
    def sqlite_path(self) -> Path:
        return self.soul_data_dir / "soul.sqlite3"

    @property
    def blob_dir(self) -> Path:
        return self.soul_data_dir / "blobs"

    def subscription(self, lane: str) -> str:
        return f"{self.pubsub_subscription_prefix}-{lane}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once on first use."""
    return Settings()
