"""The spine through the API's test client and a worker on the local backend: cache, unseen variants,
single-flight, idempotency, cancel, seen lists."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask.testing import FlaskClient

from gpu_jobs.worker import Worker
from shared.bootstrap import Backend
from shared.records import JOBS, VARIANTS, WAITERS
from tests.conftest import drain

pytestmark = pytest.mark.integration


def get_image(client: FlaskClient, user: str, cue: str = "penguin", soul: str = "nova") -> tuple[int, dict]:
    r = client.get("/image", query_string={"soul_id": soul, "cue": cue, "user_id": user})
    return r.status_code, r.get_json()


def test_miss_then_hit_then_unseen(client: FlaskClient, worker: Worker, backend: Backend) -> None:
    status, body = get_image(client, "u1", "A Penguin!!")
    assert status == 202 and body["cache_hit"] is False
    task = client.get(body["status_url"], query_string={"user_id": "u1"}).get_json()
    assert task["status"] == "queued"
    drain(worker)
    task = client.get(body["status_url"], query_string={"user_id": "u1"}).get_json()
    assert task["status"] == "succeeded"
    first = task["result"]["variant_id"]
    png = client.get(task["result"]["urls"]["png"])
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n"

    status, hit = get_image(client, "u2", "penguin")  # another surface form, another user: cache hit
    assert status == 200 and hit["cache_hit"] is True and hit["variant_id"] == first

    status, again = get_image(client, "u1", "a penguin")  # u1 has seen the only variant: a new job
    assert status == 202
    drain(worker)
    second = client.get(again["status_url"], query_string={"user_id": "u1"}).get_json()["result"]["variant_id"]
    assert second != first
    status, hit2 = get_image(client, "u2", "penguin")  # u2 saw `first`; `second` is unseen by u2
    assert status == 200 and hit2["variant_id"] == second

    seen_u1 = client.get("/image/user/u1/seen").get_json()
    assert seen_u1["variant_ids"] == [second, first]  # most recently seen first
    details = seen_u1["variants"]
    assert [v["variant_id"] for v in details] == [second, first]
    assert all(v["label"] and v["kind"] == "image" for v in details)
    newest = client.get(details[0]["urls"]["png"])  # the history's own signed URL serves the image
    assert newest.status_code == 200 and newest.data[:8] == b"\x89PNG\r\n\x1a\n"
    variants = client.get(f"/image/variants/{hit['pk_id']}").get_json()["variants"]
    assert {v["variant_id"] for v in variants} == {first, second}
    assert worker.generations == 2


def test_mark_seen_agrees_with_seen_list(client: FlaskClient, worker: Worker) -> None:
    _, body = get_image(client, "u1")
    drain(worker)
    vid = client.get(body["status_url"]).get_json()["result"]["variant_id"]
    # Mark-seen only confirms a variant served to the caller: never served to u3, so 404 (issue 16).
    r = client.post("/image/mark-seen", query_string={"variant_id": vid, "user_id": "u3"})
    assert r.status_code == 404
    assert client.get("/image/user/u3/seen").get_json()["variant_ids"] == []
    status, _ = get_image(client, "u3")  # served to u3 now (a cache hit) ...
    assert status == 200
    r = client.post("/image/mark-seen", query_string={"variant_id": vid, "user_id": "u3"})
    assert r.status_code == 200 and r.get_json()["seen"] is True  # ... so u3 may mark it
    assert client.get("/image/user/u3/seen").get_json()["variant_ids"] == [vid]
    status, _ = get_image(client, "u3")  # u3 has seen it: no cache hit for u3
    assert status == 202


def test_concurrent_identical_misses_make_one_job(client: FlaskClient, worker: Worker, backend: Backend) -> None:
    barrier = threading.Barrier(20)

    def call(i: int) -> tuple[int, dict]:
        barrier.wait()
        return get_image(client, f"user{i}", "bird flying in the sky")

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(call, range(20)))
    assert {status for status, _ in results} == {202}
    assert len({body["task_id"] for _, body in results}) == 1
    assert backend.store.count(JOBS) == 1
    drain(worker)
    assert worker.generations == 1 and backend.store.count(VARIANTS) == 1
    job = backend.store.query(JOBS)[0]
    assert backend.store.count(WAITERS, [("job_id", "==", job["job_id"])]) == 20  # one document per user
    assert job["user_ids"] == [job["owner"]]  # the job document does not grow with its users


def test_idempotency_key(client: FlaskClient, backend: Backend) -> None:
    body = {"soul_id": "nova", "city_key": "paris", "mood": "happy", "user_id": "u1"}
    h = {"Idempotency-Key": "abc-123"}
    first = client.post("/image/selfie", json=body, headers=h)
    second = client.post("/image/selfie", json=body, headers=h)
    assert first.status_code == second.status_code == 202
    assert first.get_json() == second.get_json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert backend.store.count(JOBS) == 1
    other = client.post("/image/selfie", json={**body, "mood": "sad"}, headers=h)
    assert other.status_code == 422 and other.get_json()["error"]["code"] == "idempotency_key_reused"
    assert backend.store.count(JOBS) == 1


def test_cancel_queued_then_finished(client: FlaskClient, worker: Worker, backend: Backend) -> None:
    _, body = get_image(client, "u1", "owl")
    r = client.delete(body["status_url"], query_string={"user_id": "u1"})
    assert r.status_code == 200 and r.get_json()["status"] == "canceled"
    drain(worker)
    assert worker.generations == 0 and backend.blobs.list() == []
    assert client.delete(body["status_url"]).status_code == 409
    _, done = get_image(client, "u1", "owl")  # a canceled job does not block the key: new job
    drain(worker)
    assert client.get(done["status_url"]).get_json()["status"] == "succeeded"
    r = client.delete(done["status_url"])
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"


def test_one_user_canceling_a_shared_job_leaves_it_running_for_the_others(
    client: FlaskClient, worker: Worker, backend: Backend
) -> None:
    _, a = get_image(client, "u1", "fox in the snow")
    _, b = get_image(client, "u2", "a fox in the snow!")  # the same intent: attached to the same job
    _, c = get_image(client, "u3", "Fox in the snow")
    assert a["task_id"] == b["task_id"] == c["task_id"]
    url = a["status_url"]

    r = client.delete(url, query_string={"user_id": "u1"})
    assert r.status_code == 200 and r.get_json()["status"] == "canceled"
    assert r.get_json()["cancel_requested"] is True and "other users" in r.get_json()["error"]["message"]
    assert client.get(url, query_string={"user_id": "u1"}).get_json()["status"] == "canceled"
    u2_view = client.get(url, query_string={"user_id": "u2"}).get_json()
    assert u2_view["status"] == "queued" and u2_view["cancel_requested"] is False
    assert client.delete(url, query_string={"user_id": "u1"}).get_json()["status"] == "canceled"  # again: no-op

    assert client.delete(url, query_string={"user_id": "u2"}).get_json()["status"] == "canceled"  # u3 still waits
    drain(worker)
    assert worker.generations == 1
    done = client.get(url, query_string={"user_id": "u3"}).get_json()
    assert done["status"] == "succeeded" and done["result"]["variant_id"]
    for leaver in ("u1", "u2"):
        view = client.get(url, query_string={"user_id": leaver}).get_json()
        assert view["status"] == "canceled" and view["result"] is None
        listed = client.get("/tasks", query_string={"user_id": leaver}).get_json()["tasks"]
        assert [(t["task_id"], t["status"]) for t in listed] == [(a["task_id"], "canceled")]
        assert client.get(f"/image/user/{leaver}/seen").get_json()["variant_ids"] == []  # never shown it
    assert client.get("/image/user/u3/seen").get_json()["variant_ids"] == [done["result"]["variant_id"]]


def test_the_last_user_waiting_cancels_the_job_itself(client: FlaskClient, worker: Worker) -> None:
    _, a = get_image(client, "u1", "owl at night")
    get_image(client, "u2", "owl at night")
    client.delete(a["status_url"], query_string={"user_id": "u1"})  # u2 still waits
    get_image(client, "u1", "owl at night")  # u1 asks again while it is in flight: attached again
    assert client.get(a["status_url"], query_string={"user_id": "u1"}).get_json()["status"] == "queued"
    client.delete(a["status_url"], query_string={"user_id": "u2"})
    r = client.delete(a["status_url"], query_string={"user_id": "u1"})  # the last one waiting
    assert r.get_json()["status"] == "canceled"
    drain(worker)
    assert worker.generations == 0
    assert client.get(a["status_url"], query_string={"user_id": "u2"}).get_json()["status"] == "canceled"


def test_selfie_varies_landmarks_and_unknown_city(client: FlaskClient) -> None:
    keys = []
    for _ in range(3):
        r = client.post("/image/selfie", json={"soul_id": "nova", "city_key": "paris", "user_id": "u1"})
        keys.append(r.get_json()["landmark_key"])
    assert len(set(keys)) == 3
    r = client.post("/image/selfie", json={"soul_id": "nova", "city_key": "atlantis", "user_id": "u1"})
    assert r.status_code == 404 and "/places" in r.get_json()["error"]["message"]


def test_video_from_variant_and_wan_not_configured(client: FlaskClient, worker: Worker) -> None:
    _, body = get_image(client, "u1")
    drain(worker)
    vid = client.get(body["status_url"], query_string={"user_id": "u1"}).get_json()["result"]["variant_id"]
    r = client.post("/video/generate", json={"variant_id": vid, "num_frames": 6, "user_id": "u1"})
    assert r.status_code == 202
    drain(worker)
    task = client.get(r.get_json()["status_url"]).get_json()
    assert task["status"] == "succeeded" and set(task["result"]["urls"]) >= {"mp4", "gif"}
    mp4 = client.get(task["result"]["urls"]["mp4"])
    assert mp4.status_code == 200 and b"ftyp" in mp4.data[:16]
    wan = client.get("/wan-video/", query_string={"soul_id": "nova", "cue": "bird", "user_id": "u1"})
    assert wan.status_code == 202
    drain(worker)
    task = client.get(wan.get_json()["status_url"]).get_json()
    assert task["status"] == "failed" and task["error"]["code"] == "not_configured"
    assert "DASHSCOPE_API_KEY" in task["error"]["message"]


def test_wait_returns_the_result(client: FlaskClient, backend: Backend) -> None:
    stop = threading.Event()
    from gpu_jobs.bootstrap import Generators

    w = Worker(backend, Generators(backend.settings, backend.store).for_kind)
    thread = threading.Thread(target=w.run, args=(["image"], stop), daemon=True)
    thread.start()
    try:
        r = client.get("/image", query_string={"soul_id": "kai", "cue": "river", "user_id": "u1", "wait": 20})
        assert r.status_code == 200 and r.get_json()["cache_hit"] is False and r.get_json()["image_url"]
    finally:
        stop.set()
        thread.join(5)


def test_a_failing_job_does_not_sink_its_batch(backend: Backend) -> None:
    """Four compatible jobs pulled as one batch; one always fails permanently: only that one fails."""
    from functions.context import Context
    from gpu_jobs.bootstrap import Generators
    from gpu_jobs.generators.base import GenRequest, Output
    from shared.errors import ContentBlocked

    preview = Generators(backend.settings, backend.store)

    class Picky:
        name = "picky"

        def setup(self) -> None: ...

        def generate(self, requests: list[GenRequest]) -> list[Output]:
            if any("forbidden" in r.spec.prompt for r in requests):
                raise ContentBlocked("blocked by moderation")
            return preview.for_kind(requests[0].spec.kind).generate(requests)

    ctx = Context.build(backend)
    ids = [
        ctx.generation.image("u1", "nova", cue).served.job.job_id  # type: ignore[union-attr]
        for cue in ("forbidden fruit", "apple", "pear", "plum")
    ]
    w = Worker(backend, lambda kind: Picky())
    drain(w)
    statuses = [backend.store.get(JOBS, i)["status"] for i in ids]  # type: ignore[index]
    assert statuses == ["failed", "succeeded", "succeeded", "succeeded"]
    assert backend.store.get(JOBS, ids[0])["error"]["code"] == "content_blocked"  # type: ignore[index]
