"""Content safety's composition from settings (docs/SAFETY.md): which moderator and screener run.

Built by each deployable's composition root on first use. Every switch that leaves something
unchecked says so at start-up as a warning: text moderation off, outputs not screened locally (no
image classifier fits: see `NotScreenedLocally`), or output screening off.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from shared.config import Settings
from shared.logging import get_logger
from shared.ports import Clock, DocumentStore
from shared.safety.gate import PromptGate
from shared.safety.policy import ImageScreener, TextModerator, Verdict

log = get_logger("soul.safety")


class NotScreenedLocally:
    """The local image default. No offline image classifier fits a hosted service: nudenet's wheel
    says MIT in its metadata but ships an AGPL-3.0 LICENSE with its ONNX detector, and opennsfw2 needs
    TensorFlow and fetches its weights at run time. So this one classifies nothing and says so, loudly,
    at start-up and on every verdict (`screened=False`, recorded on the variant)."""

    name = "not-screened-locally"
    screens = False

    def screen(self, images: Sequence[bytes], strict: bool = False) -> Verdict:
        return Verdict(True, screened=False)


def _recorded(settings: Settings, adapter: Any, api: str, method: str, call: str) -> Any:
    """With SOUL_ACCESS_LOG (the rehearsal's IAM check), each Google API call is recorded on the project."""
    if settings.soul_access_log is None:
        return adapter
    from shared.adapters import access_log

    project = f"projects/{settings.google_cloud_project}"
    use = (api, method, project)
    return access_log.Recording(
        adapter, access_log.AccessLog(settings.soul_access_log), lambda op, _: use if op == call else None
    )


def strict_souls(settings: Settings) -> frozenset[str]:
    return frozenset(s.strip() for s in settings.soul_strict_souls.split(",") if s.strip())


def text_moderator(settings: Settings) -> TextModerator | None:
    if settings.soul_text_moderation == "off":
        log.warning("CONTENT SAFETY: prompt moderation is OFF (SOUL_TEXT_MODERATION=off); every cue is generated")
        return None
    if settings.soul_text_moderation == "cloud":
        from shared.adapters.gcp_language import CloudTextModerator

        moderator = CloudTextModerator(
            settings.soul_text_thresholds, settings.soul_text_min_severity, settings.soul_language_endpoint
        )
        return cast(TextModerator, _recorded(settings, moderator, "language", "moderateText", "moderate"))
    from shared.safety.rules import RuleModerator

    return RuleModerator()


def prompt_gate(settings: Settings, store: DocumentStore, clock: Clock) -> PromptGate:
    return PromptGate(
        store,
        clock,
        text_moderator(settings),
        policy_version=settings.soul_safety_policy_version,
        strict_souls=strict_souls(settings),
    )


_warned: set[tuple[int, str]] = set()


def _warn_once(settings: Settings, message: str) -> None:
    """Loud at start-up, once per configuration (each worker thread of one process builds its own screener)."""
    if (id(settings), message) not in _warned:
        _warned.add((id(settings), message))
        log.warning(message)


def image_screener(settings: Settings) -> ImageScreener | None:
    if settings.soul_output_screening == "off":
        _warn_once(
            settings, "CONTENT SAFETY: output screening is OFF (SOUL_OUTPUT_SCREENING=off); outputs are shared as made"
        )
        return None
    if settings.soul_output_screening == "cloud":
        from shared.adapters.gcp_vision import CloudImageScreener

        screener = CloudImageScreener(settings.soul_vision_thresholds, settings.soul_vision_endpoint)
        return cast(ImageScreener, _recorded(settings, screener, "vision", "annotate", "screen"))
    _warn_once(
        settings,
        "CONTENT SAFETY: outputs are NOT screened locally (no offline image classifier fits the licence and "
        "size limits); set SOUL_OUTPUT_SCREENING=cloud for Cloud Vision SafeSearch",
    )
    return NotScreenedLocally()
