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
            payload = json.dumps(reply).encode()
            self.send_response(state.status)
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

    def client() -> run_v2.JobsClient:
        options = {"api_endpoint": f"http://127.0.0.1:{fake_run.port}"}
        return run_v2.JobsClient(transport="rest", client_options=options, credentials=AnonymousCredentials())

    return CloudRunLauncher(settings, backend.store, clock, client_factory=client)


def test_launch_sends_the_job_name_and_overrides(backend: Any, fake_run: FakeRun) -> None:
    launcher = _launcher(backend, fake_run, FakeClock())
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
