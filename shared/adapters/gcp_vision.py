"""Cloud Vision SafeSearch as an ImageScreener (docs/SAFETY.md).

All images of one output (an image, or a video's sampled frames) go in one `images:annotate` call.
An image is blocked when a category's likelihood reaches its threshold (SOUL_VISION_THRESHOLDS, e.g.
adult ≥ LIKELY); strict souls block one step lower. A per-image error blocks nothing silently: it is
raised as retryable, so the job retries and nothing unscreened is published.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from google.api_core import exceptions as gexc

from shared.errors import Unavailable
from shared.safety.policy import Verdict

TIMEOUT_SECONDS = 10.0  # one try (retry=None): a 503 is Unavailable and the job retries with backoff
LIKELIHOODS = ("UNKNOWN", "VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY")
CATEGORIES = ("adult", "spoof", "medical", "violence", "racy")


class CloudImageScreener:
    name = "cloud-vision"
    screens = True

    def __init__(self, thresholds: dict[str, str], endpoint: str = "") -> None:
        unknown = {v for v in thresholds.values() if v not in LIKELIHOODS} | (set(thresholds) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"SOUL_VISION_THRESHOLDS: unknown names {sorted(unknown)}")
        self.thresholds = {k: LIKELIHOODS.index(v) for k, v in thresholds.items()}
        self.endpoint = endpoint

    @cached_property
    def client(self) -> Any:
        from google.cloud import vision_v1

        if not self.endpoint:
            return vision_v1.ImageAnnotatorClient()
        from google.auth.credentials import AnonymousCredentials

        anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
        options = {"api_endpoint": self.endpoint}
        return vision_v1.ImageAnnotatorClient(transport="rest", client_options=options, credentials=anonymous)

    def screen(self, images: Sequence[bytes], strict: bool = False) -> Verdict:
        from google.cloud import vision_v1

        feature = vision_v1.Feature(type_=vision_v1.Feature.Type.SAFE_SEARCH_DETECTION)
        requests = [
            vision_v1.AnnotateImageRequest(image=vision_v1.Image(content=i), features=[feature]) for i in images
        ]
        try:
            response = self.client.batch_annotate_images(requests=requests, timeout=TIMEOUT_SECONDS, retry=None)
        except (gexc.ServiceUnavailable, gexc.TooManyRequests, gexc.DeadlineExceeded, gexc.InternalServerError) as e:
            raise Unavailable(f"Cloud Vision SafeSearch failed: {e.message}") from e
        worst: dict[str, float] = {}
        for one in response.responses:
            if one.error.code:
                raise Unavailable(f"Cloud Vision SafeSearch could not read a frame: {one.error.message}")
            annotation = one.safe_search_annotation
            for category in CATEGORIES:
                level = int(getattr(annotation, category))
                worst[category] = max(worst.get(category, 0), level)
        lower = 1 if strict else 0
        over = [(worst.get(c, 0), c) for c, t in self.thresholds.items() if worst.get(c, 0) >= t - lower]
        scores = {c: float(v) for c, v in worst.items()}
        if not over:
            return Verdict(True, scores=scores)
        return Verdict(False, category=max(over)[1], scores=scores)
