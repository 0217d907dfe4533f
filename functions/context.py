"""The API's composition root: services built lazily from settings on first use, cached per process.

Tests and `soul dev` build a Context around their own Backend; Cloud Functions get `default()`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

from functions.identity import Identity, TokenVerifier
from functions.quota import Limits, Quota, RedisQuota, StoreQuota
from functions.service import GenerationService
from functions.styles import StyleService
from functions.tasks import TaskService
from functions.urls import SignedUrls
from shared import lanes
from shared import metrics as soul_metrics
from shared.bootstrap import Backend, build_backend
from shared.config import Settings, get_settings
from shared.errors import NotConfigured
from shared.logging import configure, get_logger, register_secret
from shared.metered_store import MeteredStore
from shared.tracing_setup import setup as setup_tracing

VERSION = "0.1.0"
LANES_CACHE_SECONDS = 10.0
log = get_logger("soul.api")
_PUBLIC_SIGNING_KEY = Settings.model_fields["soul_signing_key"].default.get_secret_value()


def refuse_unsafe(settings: Settings) -> None:
    """Token mode on the local backend signs `/artifacts` URLs with SOUL_SIGNING_KEY: with the default
    key (public, in the source) anyone could forge never-expiring links, so refuse to start."""
    key = settings.soul_signing_key.get_secret_value()
    if settings.soul_auth_mode == "token" and settings.soul_backend == "local" and key == _PUBLIC_SIGNING_KEY:
        raise NotConfigured("token mode on the local backend needs SOUL_SIGNING_KEY set to a secret of your own")


@dataclass
class Context:
    backend: Backend
    generation: GenerationService
    tasks: TaskService
    styles: StyleService
    identity: Identity
    quota: Quota
    urls: SignedUrls
    metrics: soul_metrics.Metrics  # process-wide (shared/metrics.py): `soul dev`'s workers record into it too
    # /info is public: on gcp the workers' reports are read at most every LANES_CACHE_SECONDS per process.
    _lanes: tuple[float, dict[str, lanes.Lane | None]] | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        backend: Backend,
        verifier: TokenVerifier | None = None,
        quota: Quota | None = None,
        metrics: soul_metrics.Metrics | None = None,
    ) -> Context:
        """Nothing here connects: the JWKS is fetched and Redis reached on the first request needing them."""
        settings = backend.settings
        refuse_unsafe(settings)
        for secret in (settings.dashscope_api_key, settings.redis_url, settings.soul_signing_key):
            register_secret(secret.get_secret_value() if secret else None)
        if settings.soul_auth_mode == "dev":
            log.warning("DEV AUTH MODE: requests name their own user_id; never deploy this to the cloud")
        elif verifier is None:
            from functions.tokens import JwtVerifier

            verifier = JwtVerifier.from_settings(settings)
        metrics = metrics or soul_metrics.current()
        metrics.watch_queue(backend.queue, soul_metrics.WATCHED_LANES)  # the local queue; Pub/Sub reports its own
        backend = replace(backend, store=MeteredStore(backend.store, metrics))  # each record operation priced
        quota = quota or _quota(backend, settings)
        return cls(
            backend,
            GenerationService(backend, quota.take, quota.peek, metrics),
            TaskService(backend),
            StyleService(backend),
            Identity(settings, verifier),
            quota,
            SignedUrls(backend.blobs, backend.clock, settings.soul_url_ttl_seconds),
            metrics,
        )

    def info(self) -> dict[str, object]:
        """Public (no token needed): model names and whether each lane is real, as the workers run them
        (shared/lanes.py), never a path, a key or an address."""
        s = self.backend.settings
        now = time.monotonic()
        if self._lanes is None or self._lanes[0] < now:
            self._lanes = (now + LANES_CACHE_SECONDS, lanes.current(self.backend.store, s))
        running = self._lanes[1]
        return {
            "name": "soul",
            "version": VERSION,
            "backend": s.soul_backend,
            "auth_mode": s.soul_auth_mode,
            "sign_in": sign_in(s),
            "generators": {lane: lanes.describe(lane, found) for lane, found in running.items()},
            "lanes": {
                lane: {
                    "model": found.model if found else None,
                    "real": found.real if found else None,
                    "missing": found.missing if found else None,
                }
                for lane, found in running.items()
            },
            "real_today": [
                "prompt normalization, prompt keys, unseen-variant delivery, single-flight jobs",
                "durable job queue with leases, retries, dead-lettering; create-only artifacts",
                "PNG, H.264 MP4 and palette GIF encoding (ffmpeg)",
                "preview generator: labelled placeholders when no model weights are configured",
                "identity from verified ID tokens (SOUL_AUTH_MODE=token); per-user rate limit and daily cap",
            ],
            "coming_later": [],
        }


def sign_in(settings: Settings) -> dict[str, str] | None:
    """The pages' sign-in settings in token mode (Identity Platform's REST endpoints); None in dev mode."""
    if settings.soul_auth_mode != "token":
        return None
    project = settings.google_cloud_project
    return {
        "api_key": settings.soul_firebase_api_key,
        "auth_domain": settings.soul_firebase_auth_domain or f"{project}.firebaseapp.com",
        "project_id": project,
        "identity_toolkit_url": settings.soul_identity_toolkit_url.rstrip("/"),
        "secure_token_url": settings.soul_secure_token_url.rstrip("/"),
    }


def _quota(backend: Backend, settings: Settings) -> Quota:
    limits = Limits(settings.soul_rate_limit_per_minute, settings.soul_daily_generation_cap)
    if settings.redis_url is not None:
        import redis

        client = redis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=2, socket_connect_timeout=2)
        return RedisQuota(client, limits, backend.clock)
    return StoreQuota(backend.store, limits, backend.clock)


_lock = threading.Lock()
_default: Context | None = None


def default() -> Context:
    """The process-wide context for deployed functions, built on first request."""
    global _default  # noqa: PLW0603 - a per-process cache, the composition root's one piece of state
    with _lock:
        if _default is None:
            settings = get_settings()
            configure(settings.log_level)
            setup_tracing(settings, "soul-api")
            _default = Context.build(build_backend(settings))
        return _default
