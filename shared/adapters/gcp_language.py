"""Cloud Natural Language `documents:moderateText` as a TextModerator (docs/SAFETY.md).

Model version 2: every category comes with a confidence and a severity. A category blocks when its
confidence reaches its threshold (SOUL_TEXT_THRESHOLDS, names as the API returns them) and its severity
reaches SOUL_TEXT_MIN_SEVERITY; strict souls block at half the confidence threshold. The client is the
official one, built on first use; SOUL_LANGUAGE_ENDPOINT points it (REST, anonymous) at a local server.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from google.api_core import exceptions as gexc

from shared.errors import Unavailable
from shared.safety.policy import Verdict

TIMEOUT_SECONDS = 5.0  # one try (retry=None): a 503 surfaces as Unavailable; the caller retries


class CloudTextModerator:
    name = "cloud-language"
    version = "moderate-v2"
    remote = True

    def __init__(self, thresholds: dict[str, float], min_severity: float = 0.0, endpoint: str = "") -> None:
        self.thresholds, self.min_severity, self.endpoint = thresholds, min_severity, endpoint
        self.version = "moderate-v2:" + ",".join(f"{k}={v}" for k, v in sorted(thresholds.items()))

    @cached_property
    def client(self) -> Any:
        from google.cloud import language_v2

        if not self.endpoint:
            return language_v2.LanguageServiceClient()
        from google.auth.credentials import AnonymousCredentials

        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        options = {"api_endpoint": self.endpoint}
        return language_v2.LanguageServiceClient(transport="rest", client_options=options, credentials=anonymous)

    def moderate(self, text: str, strict: bool = False) -> Verdict:
        from google.cloud import language_v2

        request = language_v2.ModerateTextRequest(
            document=language_v2.Document(content=text, type_=language_v2.Document.Type.PLAIN_TEXT),
            model_version=language_v2.ModerateTextRequest.ModelVersion.MODEL_VERSION_2,
        )
        try:
            response = self.client.moderate_text(request=request, timeout=TIMEOUT_SECONDS, retry=None)
        except (gexc.ServiceUnavailable, gexc.TooManyRequests, gexc.DeadlineExceeded, gexc.InternalServerError) as e:
            raise Unavailable(f"Cloud Natural Language moderateText failed: {e.message}") from e
        scores: dict[str, float] = {}
        over: list[tuple[float, str]] = []
        for category in response.moderation_categories:
            scores[category.name] = round(float(category.confidence), 4)
            threshold = self.thresholds.get(category.name)
            if threshold is None:
                continue
            if category.confidence >= threshold * (0.5 if strict else 1.0) and category.severity >= self.min_severity:
                over.append((float(category.confidence), category.name))
        if not over:
            return Verdict(True, scores=scores)
        return Verdict(False, category=max(over)[1], scores=scores)
