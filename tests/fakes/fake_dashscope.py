"""A fake DashScope (Wan) server: real HTTP on loopback, scripted per test, counting every call.

It implements the documented async task protocol (docs/ARCHITECTURE.md, Generators and media): `POST
/api/v1/services/aigc/video-
generation/video-synthesis` (checks the bearer key, `X-DashScope-Async: enable` and the exact body),
`GET /api/v1/tasks/{id}` (each poll advances the task's scripted status list), `POST /api/v1/tasks/{id}/
cancel` (PENDING only), and serves the result MP4 (a real small H.264 file) from `/files/...`, over
http or, given a certificate, https. Tests script outcomes with `script()` (per task) and `fail()`
(HTTP errors per endpoint, e.g. 429 with Retry-After) and assert on `calls`, `requests`, `max_active`.

Standalone, for `soul dev` demos: `python -m tests.fakes.fake_dashscope --port 8765`; then set
`WAN_API_BASE_URL=http://127.0.0.1:8765/api/v1`, `DASHSCOPE_API_KEY=sk-fake-local` and
`WAN_ALLOWED_HOSTS=127.0.0.1`. A prompt containing `[fake:CODE]` fails its task with that code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import ssl
import threading
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API = "/api/v1"
SUBMIT = f"{API}/services/aigc/video-generation/video-synthesis"
BODY_KEYS = {"model", "input", "parameters"}
INPUT_KEYS = {"prompt", "negative_prompt"}
PARAM_KEYS = {"size", "duration", "prompt_extend", "watermark", "seed"}


@lru_cache(maxsize=1)
def sample_mp4() -> bytes:
    """A real 0.5 s H.264 clip (12 frames, 64x48, 24 fps), made once per process."""
    from PIL import Image, ImageDraw

    from gpu_jobs.media import encode_mp4

    frames = []
    for i in range(12):
        frame = Image.new("RGB", (64, 48), (30, 60 + i * 10, 120))
        ImageDraw.Draw(frame).rectangle([i * 4, 16, i * 4 + 10, 30], fill=(250, 250, 250))
        frames.append(frame)
    return encode_mp4(frames, fps=24)


@dataclass
class TaskScript:
    """What one submitted task does: the status returned by each successive poll (the last repeats)."""

    statuses: list[str] = field(default_factory=lambda: ["PENDING", "RUNNING", "SUCCEEDED"])
    code: str = ""
    message: str = ""
    video_url: str | None = None  # None: the server's own /files/video.mp4


@dataclass
class HttpFailure:
    """One scripted error answer for an endpoint kind ("submit", "poll", "cancel", "download")."""

    status: int
    code: str = ""
    message: str = "scripted failure"
    retry_after: str | None = None


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeTask:
    task_id: str
    script: TaskScript
    body: dict[str, Any]
    polls: int = 0
    status: str = "PENDING"


class FakeDashScope:
    def __init__(
        self, api_key: str = "sk-fake-local", host: str = "127.0.0.1", port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.api_key = api_key
        self.calls: Counter[str] = Counter()
        self.requests: list[Recorded] = []
        self.tasks: dict[str, FakeTask] = {}
        self.default_script = TaskScript()
        self.files: dict[str, bytes] = {"/files/video.mp4": sample_mp4()}
        self.redirects: dict[str, str] = {}
        self.active = self.max_active = 0
        self._scripts: deque[TaskScript] = deque()
        self._failures: dict[str, deque[HttpFailure]] = {}
        self.lock = threading.Lock()
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fake = self  # type: ignore[attr-defined]
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.scheme = "https" if tls else "http"

    @property
    def origin(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        return self.origin + API

    def url(self, path: str) -> str:
        return self.origin + path

    def script(self, *scripts: TaskScript) -> None:
        """Scripts for the next submitted tasks, in order (then `default_script`)."""
        with self.lock:
            self._scripts.extend(scripts)

    def fail(self, kind: str, *failures: HttpFailure) -> None:
        """Answer the next calls of `kind` with these errors, in order."""
        with self.lock:
            self._failures.setdefault(kind, deque()).extend(failures)

    def start(self) -> FakeDashScope:
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="fake-dashscope", daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeDashScope:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Called by the handler under self.lock.
    def next_failure(self, kind: str) -> HttpFailure | None:
        queue = self._failures.get(kind)
        return queue.popleft() if queue else None

    def new_task(self, body: dict[str, Any]) -> FakeTask:
        script = self._scripts.popleft() if self._scripts else _magic(body) or self.default_script
        task = FakeTask(f"fake-{uuid.uuid4().hex[:16]}", script, body)
        self.tasks[task.task_id] = task
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        return task

    def finish(self, task: FakeTask, status: str) -> None:
        if task.status not in ("SUCCEEDED", "FAILED", "CANCELED") and status in ("SUCCEEDED", "FAILED", "CANCELED"):
            self.active -= 1
        task.status = status


def _magic(body: dict[str, Any]) -> TaskScript | None:
    """Standalone demos: `[fake:CODE]` in the prompt fails the task with CODE."""
    match = re.search(r"\[fake:([A-Za-z.]+)\]", str(body.get("input", {}).get("prompt", "")))
    return TaskScript(["PENDING", "RUNNING", "FAILED"], match[1], "scripted by the prompt") if match else None


def check_body(body: Any) -> str | None:
    """Why `body` is not the documented submit body, or None."""
    if not isinstance(body, dict) or set(body) != BODY_KEYS:
        return f"body keys must be {sorted(BODY_KEYS)}"
    if not isinstance(body["input"], dict) or set(body["input"]) != INPUT_KEYS:
        return f"input keys must be {sorted(INPUT_KEYS)}"
    if not isinstance(body["parameters"], dict) or set(body["parameters"]) != PARAM_KEYS:
        return f"parameters keys must be {sorted(PARAM_KEYS)}"
    seed = body["parameters"]["seed"]
    if not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
        return "parameters.seed must be in [0, 2147483647]"
    return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def fake(self) -> FakeDashScope:
        return self.server.fake  # type: ignore[attr-defined,no-any-return]

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read `requests` instead
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        kind, task_id = _route(method, self.path)
        with self.fake.lock:
            self.fake.requests.append(Recorded(method, self.path, dict(self.headers.items()), body))
            self.fake.calls[kind] += 1
            failure = self.fake.next_failure(kind)
            if failure is not None:
                return self._failure(failure)
            if kind == "download":
                return self._file()
            if kind == "not_found":
                return self._json(404, {"code": "NotFound", "message": f"no route {self.path}"})
            if self.headers.get("Authorization") != f"Bearer {self.fake.api_key}":
                return self._json(401, {"code": "InvalidApiKey", "message": "Invalid API-key provided."})
            if kind == "submit":
                return self._submit(body)
            task = self.fake.tasks.get(task_id)
            return self._poll(task_id, task) if kind == "poll" else self._cancel(task_id, task)

    def _read_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return raw.decode(errors="replace")

    def _submit(self, body: Any) -> None:
        problem = check_body(body)
        if self.headers.get("X-DashScope-Async") != "enable":
            problem = "X-DashScope-Async: enable is required (HTTP calls are async only)"
        if (self.headers.get("Content-Type") or "").split(";")[0] != "application/json":
            problem = "Content-Type must be application/json"
        if problem:
            return self._json(400, {"code": "InvalidParameter", "message": problem})
        task = self.fake.new_task(body)
        self._json(200, {"output": {"task_id": task.task_id, "task_status": "PENDING"}})

    def _poll(self, task_id: str, task: FakeTask | None) -> None:
        if task is None:
            return self._json(200, {"output": {"task_id": task_id, "task_status": "UNKNOWN"}})
        if task.status != "CANCELED":
            statuses = task.script.statuses
            self.fake.finish(task, statuses[min(task.polls, len(statuses) - 1)])
        task.polls += 1
        output: dict[str, Any] = {"task_id": task_id, "task_status": task.status}
        if task.status == "SUCCEEDED":
            output["video_url"] = task.script.video_url or self.fake.url("/files/video.mp4")
        if task.status == "FAILED":
            output.update(code=task.script.code, message=task.script.message)
        self._json(200, {"output": output})

    def _cancel(self, task_id: str, task: FakeTask | None) -> None:
        if task is None or task.status != "PENDING":
            message = f"task {task_id} is not PENDING" if task else f"no task {task_id}"
            return self._json(400, {"code": "UnsupportedOperation", "message": message})
        self.fake.finish(task, "CANCELED")
        self._json(200, {})

    def _file(self) -> None:
        path = self.path.split("?")[0]
        if path in self.fake.redirects:
            return self._send(302, b"", "text/plain", {"Location": self.fake.redirects[path]})
        if path not in self.fake.files:
            return self._send(404, b"not found", "text/plain")
        self._send(200, self.fake.files[path], "video/mp4")

    def _failure(self, failure: HttpFailure) -> None:
        extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        self._json(failure.status, {"code": failure.code, "message": failure.message}, extra)

    def _json(self, status: int, payload: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        payload = {**payload, "request_id": uuid.uuid4().hex}
        self._send(status, json.dumps(payload).encode(), "application/json", extra)

    def _send(self, status: int, data: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _route(method: str, raw_path: str) -> tuple[str, str]:
    """(endpoint kind, task id) for a request path."""
    path = raw_path.split("?", maxsplit=1)[0]
    if method == "POST" and path == SUBMIT:
        return "submit", ""
    match = re.fullmatch(rf"{API}/tasks/([^/]+)(/cancel)?", path)
    if match and (method == "POST") == bool(match[2]):
        return ("cancel" if match[2] else "poll"), match[1]
    if method == "GET" and not path.startswith(API):
        return "download", ""
    return "not_found", ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default="sk-fake-local")
    parser.add_argument("--running-polls", type=int, default=2, help="polls that answer RUNNING")
    args = parser.parse_args()
    fake = FakeDashScope(args.api_key, args.host, args.port)
    fake.default_script = TaskScript(["PENDING", *["RUNNING"] * args.running_polls, "SUCCEEDED"])
    print(
        f"WAN_API_BASE_URL={fake.base_url} DASHSCOPE_API_KEY={args.api_key} WAN_ALLOWED_HOSTS={args.host}", flush=True
    )
    with contextlib.suppress(KeyboardInterrupt):
        fake._httpd.serve_forever()
    fake._httpd.server_close()


if __name__ == "__main__":
    main()
