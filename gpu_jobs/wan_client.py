"""DashScope (Alibaba Cloud Model Studio) async task API over httpx: submit, poll, cancel.

Follows the documented HTTP protocol (docs/ARCHITECTURE.md, Generators and media): `POST
{base}/services/aigc/video-generation/
video-synthesis` with `X-DashScope-Async: enable`, `GET {base}/tasks/{id}`, `POST {base}/tasks/{id}/
cancel`. Transient faults (429, 5xx, timeouts, connection errors) are retried here with capped
exponential backoff and jitter, honouring `Retry-After`; past the last attempt they surface as
`RateLimited` / `Unavailable` so the worker requeues the job. Provider errors that retrying cannot
fix map onto Soul's permanent errors. The API key is a `SecretStr`; it goes into one header and never
into a message or log line.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from shared.errors import (
    ContentBlocked,
    GenerationFailed,
    InvalidInput,
    NotConfigured,
    RateLimited,
    RetryableError,
    SoulError,
    Unavailable,
)
from shared.logging import get_logger, register_secret

log = get_logger(__name__)

SUBMIT_PATH = "/services/aigc/video-generation/video-synthesis"
# Sent-but-unanswered is ambiguous for a submit (the task may exist); only these are surely unsent.
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class WanAccountError(NotConfigured):
    """The provider refused the account itself (bad key, arrears): no job can succeed until fixed."""

    code = "wan_account"


class SubmitOutcomeUnknown(Unavailable):
    """A submit was sent but not answered: the task may exist, so it is never resent blindly."""

    code = "wan_submit_unknown"


class TaskOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    task_id: str
    task_status: str
    video_url: str | None = None
    code: str | None = None
    message: str | None = None


class TaskResponse(BaseModel):
    model_config = ConfigDict(extra="ignore")

    output: TaskOutput
    request_id: str = ""


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    code: str = ""
    message: str = ""
    request_id: str = ""


@dataclass
class RetryPolicy:
    """Capped exponential backoff with full-range jitter; `Retry-After` is a floor, not a suggestion."""

    attempts: int = 4
    base_s: float = 1.0
    cap_s: float = 20.0
    max_retry_after_s: float = 60.0  # a longer server-asked wait is the worker's (requeue with delay)
    rng: Callable[[], float] = field(default=random.random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        backoff = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1)) * (0.5 + 0.5 * self.rng())
        return max(backoff, retry_after or 0.0)


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_body(response: httpx.Response) -> ErrorBody:
    try:
        return ErrorBody.model_validate(response.json())
    except (ValueError, ValidationError):
        return ErrorBody(message=response.text[:200])


def permanent_error(code: str, reason: str) -> SoulError:
    """The permanent error for a provider code, whether from an HTTP answer or a FAILED task."""
    if code == "DataInspectionFailed":
        return ContentBlocked(f"Wan refused the content ({reason})")
    if code in ("InvalidApiKey", "Unauthorized"):
        return WanAccountError(f"Wan rejected the API key ({reason}): check DASHSCOPE_API_KEY and its region")
    if code == "Arrearage":
        return WanAccountError(f"the Alibaba Cloud account is in arrears ({reason}): top up to use Wan")
    if code.startswith("InvalidParameter"):
        return InvalidInput(f"Wan rejected the request ({reason})")
    return GenerationFailed(f"Wan failed ({reason})")


def provider_error(response: httpx.Response) -> SoulError:
    """Map a non-2xx answer onto the error tree (retryable ones carry `retry_after`)."""
    body = _error_body(response)
    reason = f"{body.code or response.status_code}: {body.message}".strip()
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if response.status_code == 429 or body.code.startswith("Throttling"):
        return RateLimited(f"Wan rate limited ({reason})", retry_after=retry_after)
    if response.status_code >= 500:
        return Unavailable(f"Wan unavailable ({reason})", retry_after=retry_after)
    if response.status_code == 401 and not body.code:
        return permanent_error("InvalidApiKey", reason)
    return permanent_error(body.code, reason)


def _task(data: Any) -> TaskOutput:
    try:
        return TaskResponse.model_validate(data).output
    except ValidationError:
        raise Unavailable("Wan answered without a task (unexpected body)") from None


def _checked(task_id: str) -> str:
    # Task ids come back from storage; one with a slash or dot would address another API path.
    if not _TASK_ID.fullmatch(task_id):
        raise GenerationFailed(f"malformed Wan task id {task_id[:80]!r}")
    return task_id


class DashScopeClient:
    """One account's task API. `transport` is injectable (tests use a real loopback server)."""

    def __init__(
        self,
        api_key: SecretStr,
        base_url: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None],
        transport: httpx.BaseTransport | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        register_secret(api_key.get_secret_value())  # last line of defence in the JSON log formatter
        self._key = api_key
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            transport=transport,
            timeout=timeout or httpx.Timeout(30.0, connect=10.0),
            follow_redirects=False,
        )

    def close(self) -> None:
        self._http.close()

    def submit(self, body: dict[str, Any]) -> str:
        data = self._call("POST", SUBMIT_PATH, body, resend_safe=False, extra={"X-DashScope-Async": "enable"})
        return _task(data).task_id

    def get(self, task_id: str) -> TaskOutput:
        path = f"/tasks/{_checked(task_id)}"
        return _task(self._call("GET", path, None, resend_safe=True))

    def cancel(self, task_id: str) -> None:
        self._call("POST", f"/tasks/{_checked(task_id)}/cancel", None, resend_safe=True)

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        *,
        resend_safe: bool,
        extra: dict[str, str] | None = None,
    ) -> Any:
        """One API call with retries; `resend_safe` False means a sent request is never sent again."""
        attempt = 1
        while True:
            try:
                return self._once(method, path, body, resend_safe, extra or {})
            except SubmitOutcomeUnknown:
                raise
            except RetryableError as exc:
                if attempt >= self._retry.attempts or (exc.retry_after or 0) > self._retry.max_retry_after_s:
                    raise
                wait = self._retry.delay(attempt, exc.retry_after)
                log.warning("wan %s %s: %s; retry %d in %.2fs", method, path, exc.code, attempt, wait)
                self._sleep(wait)
                attempt += 1

    def _once(
        self, method: str, path: str, body: dict[str, Any] | None, resend_safe: bool, extra: dict[str, str]
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._key.get_secret_value()}", **extra}
        try:
            response = self._http.request(method, path, json=body, headers=headers)
        except _UNSENT as exc:
            raise Unavailable(f"Wan unreachable ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            if resend_safe:
                raise Unavailable(f"Wan did not answer ({type(exc).__name__})") from None
            # The task may or may not exist now; resending could start a duplicate paid task.
            raise SubmitOutcomeUnknown(f"Wan submit outcome unknown ({type(exc).__name__})") from None
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise Unavailable("Wan answered with a non-JSON body") from None
        raise provider_error(response)
