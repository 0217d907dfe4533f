"""One error tree for Soul.

Every error is either *permanent* (retrying cannot help: bad input, unknown soul, content blocked) or
*retryable* (a transient backend or provider fault). Edges map the tree to HTTP statuses or exit
codes; the middle of the code raises, and never catches `Exception` wholesale.
"""

from __future__ import annotations

from shared.logging import redact


class SoulError(Exception):
    """Base of every error Soul raises on purpose."""

    code = "internal"
    http_status = 500
    retryable = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        message = redact(message)  # provider messages can echo a key back: scrub registered secrets here
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class PermanentError(SoulError):
    """Retrying cannot help; fail the job / answer 4xx."""


class RetryableError(SoulError):
    """A transient fault; retry with capped backoff."""

    code = "unavailable"
    http_status = 503
    retryable = True

    def __init__(self, message: str, *, code: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class InvalidInput(PermanentError):
    """Bad input; `field` names the request field at fault, so a page can show the message beside it."""

    code = "invalid_input"
    http_status = 422

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field


class BadRequest(PermanentError):
    code = "bad_request"
    http_status = 400


class NotFound(PermanentError):
    code = "not_found"
    http_status = 404


class Forbidden(PermanentError):
    code = "forbidden"
    http_status = 403


class Unauthenticated(PermanentError):
    code = "unauthenticated"
    http_status = 401


class Conflict(PermanentError):
    code = "conflict"
    http_status = 409


class PayloadTooLarge(PermanentError):
    code = "payload_too_large"
    http_status = 413


class RequestTimeout(PermanentError):
    """The request body did not arrive within SOUL_BODY_TIMEOUT_SECONDS (408)."""

    code = "request_timeout"
    http_status = 408


class UnsupportedMediaType(PermanentError):
    """A JSON route was sent a body that is not `application/json` (415)."""

    code = "unsupported_media_type"
    http_status = 415


class ContentBlocked(PermanentError):
    code = "content_blocked"
    http_status = 422


class NotConfigured(PermanentError):
    """A feature needs configuration this deployment lacks (e.g. no DASHSCOPE_API_KEY)."""

    code = "not_configured"
    http_status = 503


class GenerationFailed(PermanentError):
    code = "generation_failed"
    http_status = 500


class JobCanceled(PermanentError):
    """Raised inside generation when the job's cancel flag is seen."""

    code = "canceled"
    http_status = 409


class AlreadyExists(Conflict):
    """Create-if-absent found the document or object already there."""

    code = "already_exists"


class TransactionConflict(RetryableError):
    """An optimistic transaction lost to a concurrent writer too many times."""

    code = "contention"


class RateLimited(RetryableError):
    code = "rate_limited"
    http_status = 429


class Unavailable(RetryableError):
    code = "unavailable"
    http_status = 503


class StorageUnavailable(Unavailable):
    """The blob store cannot take a write (read-only, full, permissions): say so, never "internal"."""

    code = "storage_unavailable"
