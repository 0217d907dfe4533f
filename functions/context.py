"""The API's composition root: services built lazily from settings on first use, cached per process.

Tests and `soul dev` build a Context around their own Backend; Cloud Functions get `default()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from functions.identity import Identity, TokenVerifier
from functions.service import GenerationService
from functions.styles import StyleService
from functions.tasks import TaskService
from shared.bootstrap import Backend, build_backend
from shared.config import get_settings
from shared.logging import configure, register_secret

VERSION = "0.1.0"


@dataclass
class Context:
    backend: Backend
    generation: GenerationService
    tasks: TaskService
    styles: StyleService
    identity: Identity

    @classmethod
    def build(cls, backend: Backend, verifier: TokenVerifier | None = None) -> Context:
        settings = backend.settings
        key = settings.dashscope_api_key
        register_secret(key.get_secret_value() if key else None)
        register_secret(settings.soul_signing_key.get_secret_value())
        return cls(
            backend,
            GenerationService(backend),
            TaskService(backend),
            StyleService(backend),
            Identity(settings, verifier),
        )

    def info(self) -> dict[str, object]:
        s = self.backend.settings
        image = f"sdxl ({s.sdxl_model_path})" if s.sdxl_model_path else "preview placeholder (no SDXL_MODEL_PATH)"
        video = f"svd ({s.svd_model_path})" if s.svd_model_path else "preview placeholder (no SVD_MODEL_PATH)"
        wan = f"wan ({s.wan_model} via DashScope)" if s.dashscope_api_key else "not configured (no DASHSCOPE_API_KEY)"
        return {
            "name": "soul",
            "version": VERSION,
            "backend": s.soul_backend,
            "auth_mode": s.soul_auth_mode,
            "generators": {"image": image, "video": video, "wan": wan},
            "real_today": [
                "prompt normalization, prompt keys, unseen-variant delivery, single-flight jobs",
                "durable job queue with leases, retries, dead-lettering; create-only artifacts",
                "PNG, H.264 MP4 and palette GIF encoding (ffmpeg)",
                "preview generator: labelled placeholders when no model weights are configured",
            ],
            "coming_later": [
                "Identity from verified ID tokens and per-user quotas (dev mode trusts user_id)",
            ],
        }


_lock = threading.Lock()
_default: Context | None = None


def default() -> Context:
    """The process-wide context for deployed functions, built on first request."""
    global _default  # noqa: PLW0603 - a per-process cache, the composition root's one piece of state
    with _lock:
        if _default is None:
            settings = get_settings()
            configure(settings.log_level)
            _default = Context.build(build_backend(settings))
        return _default
