"""Token mode: the user is the verified token's subject. User A holding B's ids gets 401/403/404 and
nothing of B's (tasks, seen list, cancel, mark-seen, animation, idempotent replays, style writes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed
from shared.bootstrap import Backend, build_backend
from tests.conftest import drain, make_settings
from tests.fakes.id_tokens import PROJECT, LocalIssuer

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
A, B = ISSUER.bearer("alice"), ISSUER.bearer("bob")


@pytest.fixture
def token_backend(tmp_path: Path) -> Backend:
    settings = make_settings(
        tmp_path / "data",
        soul_auth_mode="token",
        soul_signing_key="test-signing-key-not-the-default",
        google_cloud_project=PROJECT,
        soul_jwks_file=ISSUER.write_jwks(tmp_path / "jwks.json"),
    )
    backend = build_backend(settings)
    seed.load(backend)
    return backend


@pytest.fixture
def api(token_backend: Backend) -> FlaskClient:
    return create_app(Context.build(token_backend)).test_client()


@pytest.fixture
def bobs(api: FlaskClient, token_backend: Backend) -> dict[str, str]:
    """Bob has a finished image (seen), and a queued task."""
    r = api.get("/image", query_string={"soul_id": "nova", "cue": "penguin"}, headers=B)
    assert r.status_code == 202, r.data
    drain(Worker(token_backend, Generators(token_backend.settings, token_backend.store).for_kind))
    done = api.get(f"/tasks/{r.json['task_id']}", headers=B).json  # type: ignore[index]
    queued = api.get("/image", query_string={"soul_id": "nova", "cue": "walrus"}, headers=B).json
    assert done["status"] == "succeeded" and queued is not None
    return {"task": queued["task_id"], "done_task": done["task_id"], "variant": done["result"]["variant_id"]}


def _leaks(response: object, sent: str, bobs: dict[str, str]) -> list[str]:
    """B's ids in a response that A did not send itself (echoing A's own input back is fine)."""
    text = response.get_data(as_text=True)  # type: ignore[attr-defined]
    return [value for value in bobs.values() if value in text and value not in sent]


def test_no_token_or_a_bad_token_is_401(api: FlaskClient) -> None:
    q = {"soul_id": "nova", "cue": "cat"}
    assert api.get("/image", query_string=q).status_code == 401
    assert api.get("/image", query_string={**q, "user_id": "bob"}).status_code == 401  # no trusting user_id
    assert api.get("/image", query_string=q, headers={"X-User-Id": "bob"}).status_code == 401
    assert api.get("/image", query_string=q, headers={"Authorization": "Bearer nope"}).status_code == 401
    expired = {"Authorization": f"Bearer {ISSUER.token('bob', ttl=-600)}"}
    assert api.get("/tasks", headers=expired).status_code == 401
    foreign = {"Authorization": f"Bearer {LocalIssuer().token('bob')}"}  # same kid, another key
    assert api.get("/tasks", headers=foreign).status_code == 401


def test_a_gets_nothing_of_bs(api: FlaskClient, bobs: dict[str, str]) -> None:
    task, done, variant = bobs["task"], bobs["done_task"], bobs["variant"]
    answers = [
        ("GET", f"/tasks/{task}", {}, None, 404),
        ("GET", f"/tasks/{done}", {}, None, 404),
        ("GET", f"/tasks/{done}", {"user_id": "bob"}, None, 403),
        ("GET", f"/tasks/{done}", {"wait": "0.2"}, None, 404),
        ("DELETE", f"/tasks/{task}", {}, None, 404),
        ("DELETE", f"/tasks/{task}", {"user_id": "bob"}, None, 403),
        ("GET", "/tasks", {"user_id": "bob"}, None, 403),
        ("GET", "/image/user/bob/seen", {}, None, 403),
        ("POST", "/image/mark-seen", {"variant_id": variant, "user_id": "bob"}, None, 403),
        ("POST", "/video/generate", {}, {"variant_id": variant}, 404),  # never served to A
        ("POST", "/video/generate", {}, {"variant_id": variant, "user_id": "bob"}, 403),
        ("POST", "/video/generate-from-variant", {"variant_id": variant}, None, 404),
        ("GET", "/image", {"soul_id": "nova", "cue": "cat", "user_id": "bob"}, None, 403),
    ]
    for method, path, query, body, status in answers:
        r = api.open(path, method=method, query_string=query, json=body, headers=A)
        assert r.status_code == status, (method, path, query, body, r.status_code, r.data)
        assert not _leaks(r, f"{path} {query} {body}", bobs)
    listing = api.get("/tasks", headers=A)
    assert listing.status_code == 200 and listing.json == {"tasks": []}
    assert api.get("/image/user/alice/seen", headers=A).json == {"user_id": "alice", "variant_ids": [], "variants": []}
    # X-User-Id is ignored in token mode: A stays A.
    assert api.get("/tasks", headers={**A, "X-User-Id": "bob"}).json == {"tasks": []}


def test_b_is_untouched_and_can_use_what_is_bs(api: FlaskClient, bobs: dict[str, str]) -> None:
    api.delete(f"/tasks/{bobs['task']}", headers=A)
    assert api.get(f"/tasks/{bobs['task']}", headers=B).json["cancel_requested"] is False  # type: ignore[index]
    assert api.get("/image/user/bob/seen", headers=B).json["variant_ids"] == [bobs["variant"]]  # type: ignore[index]
    assert {t["task_id"] for t in api.get("/tasks", headers=B).json["tasks"]} == {bobs["task"], bobs["done_task"]}  # type: ignore[index]
    assert api.post("/video/generate", json={"variant_id": bobs["variant"]}, headers=B).status_code == 202
    assert api.delete(f"/tasks/{bobs['task']}", headers=B).status_code == 200


def test_an_idempotency_key_never_replays_another_users_response(api: FlaskClient) -> None:
    body = json.dumps({"soul_id": "nova", "city_key": "paris"})
    key = {"Idempotency-Key": "same-key-1", "Content-Type": "application/json"}
    first = api.post("/image/selfie", data=body, headers={**B, **key})
    assert first.status_code == 202
    again = api.post("/image/selfie", data=body, headers={**B, **key})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json == first.json
    other = api.post("/image/selfie", data=body, headers={**A, **key})
    # The key is A's own (issue 29 item 7): A's request runs, neither a replay of B's nor a 422 revealing B used it.
    assert other.status_code == 202 and "Idempotent-Replayed" not in other.headers


def test_style_writes_need_the_admin_claim(api: FlaskClient) -> None:
    body = {"soul_id": "zed", "prompt_template": "{cue}, zed style"}
    assert api.post("/style", json=body).status_code == 401
    assert api.post("/style", json=body, headers=A).status_code == 403
    assert api.delete("/style/nova", headers=A).status_code == 403
    admin = ISSUER.bearer("root", soul_admin=True)
    assert api.post("/style", json=body, headers=admin).status_code == 200
    assert api.delete("/style/zed", headers=admin).status_code == 200
    assert api.get("/style/nova", headers=A).status_code == 200  # reads: any verified caller
    assert api.get("/style/nova").status_code == 401  # token mode: nothing but health without a token


def test_dev_mode_refuses_user_ids_that_are_not_ids(client: FlaskClient) -> None:
    for bad in ("../etc", "a/b", " x", "é"):
        r = client.get("/tasks", headers={"X-User-Id": bad})
        assert r.status_code in (400, 422), (bad, r.status_code)
    assert client.get("/image/user/..%2Fx/seen").status_code == 404
