"""Cloud Run launcher against a local server that speaks the run_v2 REST shape.

The real `run_v2.JobsClient` (transport="rest", anonymous credentials) talks to a small HTTP server
that records each `POST /v2/{name}:run` and answers with a long-running Operation. The tests assert
the job name and overrides it sends, and that the rate limit (a create-if-absent slot document per
lane per interval) holds on both document stores, with concurrent dispatchers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

pytestmark = pytest.mark.contract


@dataclass
class FakeRun:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    port: int = 0
    running: list[dict[str, Any]] = field(default_factory=list)  # executions GET .../executions lists
    op_error: dict[str, Any] | None = None  # an operation that comes back done with this error


def _handler(state: FakeRun) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            state.calls.append((self.path.split("?", 1)[0], body))
            if state.status != 200:
                reply: dict[str, Any] = {"error": {"code": state.status, "message": "fake", "status": "UNAVAILABLE"}}
            else:
                name = self.path.removeprefix("/v2/").split("/jobs/")[0]
                reply = {"name": f"{name}/operations/op-{len(state.calls)}", "done": False}
                if state.op_error is not None:
                    reply.update(done=True, error=state.op_error)
            payload = json.dumps(reply).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            reply = {"name": path.removeprefix("/v2/"), "done": False} if "/operations/" in path else None
            payload = json.dumps(reply or {"executions": state.running}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_run() -> Iterator[FakeRun]:
    state = FakeRun()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds


def _launcher(backend: Any, fake_run: FakeRun, clock: FakeClock, interval: float = 30.0) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    from shared.adapters.gcp_run import CloudRunLauncher

    settings = backend.settings.model_copy(
        update={
            "google_cloud_project": "proj",
            "cloud_run_region": "europe-west4",
            "soul_dispatch_interval_seconds": interval,
        }
    )

    options = {"api_endpoint": f"http://127.0.0.1:{fake_run.port}"}

    def client() -> run_v2.JobsClient:
        return run_v2.JobsClient(transport="rest", client_options=options, credentials=AnonymousCredentials())

    def executions() -> run_v2.ExecutionsClient:
        return run_v2.ExecutionsClient(transport="rest", client_options=options, credentials=AnonymousCredentials())

    return CloudRunLauncher(settings, backend.store, clock, client_factory=client, executions_factory=executions)


def _queue(backend: Any, lane: str, n: int = 1) -> None:
    """n queued jobs on `lane` (the fields the launcher counts by)."""
    import uuid

    from shared.records import JOBS

    for _ in range(n):
        job_id = uuid.uuid4().hex
        backend.store.create(JOBS, job_id, {"job_id": job_id, "lane": lane, "status": "queued"})


def _execution(lane: str, running: bool = True) -> dict[str, Any]:
    args = ["worker", "--lanes", lane, "--exit-when-idle"]
    out: dict[str, Any] = {
        "name": f"e-{lane}",
        "runningCount": int(running),
        "template": {"containers": [{"args": args}]},
    }
    out["startTime"] = "2026-01-01T00:00:00Z"
    return out if running else {**out, "completionTime": "2026-01-01T00:01:00Z"}


def test_launch_sends_the_job_name_and_overrides(backend: Any, fake_run: FakeRun) -> None:
    launcher = _launcher(backend, fake_run, FakeClock())
    _queue(backend, "image")
    _queue(backend, "wan")
    launcher.launch("image")
    launcher.launch("wan")
    (gpu_path, gpu_body), (wan_path, wan_body) = fake_run.calls
    assert gpu_path == "/v2/projects/proj/locations/europe-west4/jobs/soul-worker-gpu:run"
    assert wan_path == "/v2/projects/proj/locations/europe-west4/jobs/soul-worker-wan:run"
    # Cloud Run replaces the container args with these: the whole worker argv after `soul`.
    image_args = ["worker", "--lanes", "image", "--exit-when-idle"]
    assert gpu_body["overrides"] == {"containerOverrides": [{"args": image_args}], "taskCount": 1}
    assert wan_body["overrides"]["containerOverrides"][0]["args"] == ["worker", "--lanes", "wan", "--exit-when-idle"]
    assert (launcher.launches("image"), launcher.launches("wan"), launcher.launches("video")) == (1, 1, 0)


def test_at_most_one_launch_per_lane_per_interval(backend: Any, fake_run: FakeRun) -> None:
    clock = FakeClock()
    _queue(backend, "video")
    _queue(backend, "image")
    launchers = [_launcher(backend, fake_run, clock) for _ in range(4)]  # 4 dispatcher instances
    threads = [threading.Thread(target=lch.launch, args=("video",)) for lch in launchers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    launchers[0].launch("image")  # another lane has its own slot
    assert [p.rsplit("/", 1)[1] for p, _ in fake_run.calls] == ["soul-worker-gpu:run"] * 2
    clock.sleep(30)  # next interval
    launchers[1].launch("video")
    launchers[2].launch("video")
    video_calls = [b for _, b in fake_run.calls if b["overrides"]["containerOverrides"][0]["args"][2] == "video"]
    assert len(video_calls) == 2
    assert launchers[3].launches("video") == 2


def test_a_failed_launch_frees_the_slot(backend: Any, fake_run: FakeRun) -> None:
    from shared.errors import NotConfigured, Unavailable

    launcher = _launcher(backend, fake_run, FakeClock())
    _queue(backend, "image")
    fake_run.status = 503
    with pytest.raises(Unavailable):
        launcher.launch("image")
    fake_run.status = 404
    with pytest.raises(NotConfigured):
        launcher.launch("image")
    fake_run.status = 200
    launcher.launch("image")  # the retried event launches in the same interval
    assert launcher.launches("image") == 1
    assert len(fake_run.calls) >= 3


def test_a_denied_firestore_call_is_a_logged_refusal_not_a_retry(backend: Any, fake_run: FakeRun) -> None:
    """The dispatcher once lacked roles/datastore.user: Eventarc retried PermissionDenied for a day."""
    import base64

    from google.api_core import exceptions as gexc

    from functions.dispatch import handle
    from shared.errors import NotConfigured

    class DeniedStore:
        def __getattr__(self, name: str) -> Any:
            def denied(*args: Any, **kwargs: Any) -> Any:
                raise gexc.PermissionDenied("Missing or insufficient permissions.")

            return denied

    launcher = _launcher(backend, fake_run, FakeClock())
    launcher._store = DeniedStore()
    with pytest.raises(NotConfigured, match="IAM"):
        launcher.launch("image")
    data = base64.b64encode(b'{"job_id": "j1", "lane": "image"}').decode()
    event = {"message": {"data": data, "attributes": {"lane": "image"}}}
    assert handle(event, lambda: launcher) is None  # logged and dropped: no redelivery
    assert not fake_run.calls


def test_the_launcher_follows_the_backlog(backend: Any, fake_run: FakeRun) -> None:
    """One execution per batch of queued jobs, less those running the lane, within the GPU quota."""
    clock = FakeClock()
    launcher = _launcher(backend, fake_run, clock)
    launcher.launch("image")  # nothing queued: nothing to start
    assert fake_run.calls == []
    _queue(backend, "image")
    fake_run.running = [_execution("image"), _execution("video", running=False)]
    launcher.launch("image")  # a trickle: the running execution takes it, no second GPU
    assert fake_run.calls == []
    _queue(backend, "image", 8)  # 9 queued, batch 4: 3 executions wanted, 1 runs
    clock.sleep(30)
    launcher.launch("image")
    assert len(fake_run.calls) == 2 and launcher.launches("image") == 2
    _queue(backend, "video", 20)  # quota 4: image holds 1 (the fake still lists one), video gets 3
    launcher.launch("video")
    assert len(fake_run.calls) == 5


def test_a_backlog_the_quota_leaves_without_an_execution_is_retried(backend: Any, fake_run: FakeRun) -> None:
    from shared.errors import Unavailable

    launcher = _launcher(backend, fake_run, FakeClock())
    _queue(backend, "video")
    fake_run.running = [_execution("image") for _ in range(4)]  # the whole L4 quota on the image lane
    with pytest.raises(Unavailable, match="quota"):
        launcher.launch("video")
    fake_run.running = fake_run.running[:3]
    launcher.launch("video")  # the redelivered event, same interval: the slot was freed
    assert len(fake_run.calls) == 1


def test_a_refusal_in_the_operation_is_noticed(backend: Any, fake_run: FakeRun) -> None:
    from shared.errors import Unavailable

    launcher = _launcher(backend, fake_run, FakeClock())
    _queue(backend, "image")
    fake_run.op_error = {"code": 8, "message": "Quota exceeded for nvidia_l4_gpu_allocation"}
    with pytest.raises(Unavailable, match="refused"):
        launcher.launch("image")
    assert (backend.store.get("dispatch_stats", "image") or {}).get("refusals") == 1
    assert launcher.launches("image") == 0


def test_a_pregeneration_event_counts_the_low_twin(backend: Any, fake_run: FakeRun) -> None:
    """Workers take `image-low` when `image` is empty: a low event (budget left) launches for it."""
    clock = FakeClock()
    launcher = _launcher(backend, fake_run, clock)
    launcher._settings = launcher._settings.model_copy(update={"soul_pregen_daily_gpu_seconds": 1000.0})
    _queue(backend, "image-low")
    launcher.launch("image")  # a user event counts only user work
    assert fake_run.calls == []
    clock.sleep(30)  # the next interval's slot
    launcher.launch("image-low")
    assert [body["overrides"]["containerOverrides"][0]["args"][2] for _, body in fake_run.calls] == ["image"]
