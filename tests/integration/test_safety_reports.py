"""Reports and review over HTTP on SQLite and the emulators (issue 22 §3): only a user the variant was
served to may report it; the reporter never sees it again at once; SOUL_REPORTS_TO_HIDE distinct
reporters hide it from everyone and stop pre-generation of its key; administrators see the queue,
remove (artifacts deleted, key optionally blocked) and restore; every step is an audit record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from functions.app import create_app
from functions.context import Context
from gpu_jobs.worker import Worker
from shared.records import AUDIT, BLOCKED_KEYS, VARIANTS
from tests.conftest import drain
from tests.integration.safety_support import Colours, make_backend

pytestmark = pytest.mark.integration


def _image(client: Any, user: str, cue: str = "penguin on ice") -> Any:
    return client.get("/image", query_string={"soul_id": "nova", "cue": cue, "user_id": user})


def doc_pk(backend: Any, variant_id: str) -> str:
    return str(backend.store.get(VARIANTS, variant_id)["pk"])


def _report(client: Any, variant_id: str, user: str, reason: str = "violence") -> Any:
    return client.post(f"/variants/{variant_id}/report", json={"user_id": user, "reason": reason, "note": "no"})


@pytest.mark.parametrize("kind", ["local", "gcp"])
def test_reports_hide_and_admins_decide(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    backend = make_backend(kind, tmp_path, request, soul_reports_to_hide=2)
    client = create_app(Context.build(backend)).test_client()
    worker = Worker(backend, lambda k: Colours())
    assert _image(client, "u1").status_code == 202
    drain(worker)
    variant_id = client.get("/image/user/u1/seen").get_json()["variant_ids"][0]
    for user in ("u2", "u3", "u4"):
        assert _image(client, user).get_json()["variant_id"] == variant_id  # served from the cache

    refused = _report(client, variant_id, "stranger")  # never served to this user: as if it did not exist
    assert refused.status_code == 404
    bad = client.post(f"/variants/{variant_id}/report", json={"user_id": "u2", "reason": "meh"})
    assert bad.status_code == 422

    first = _report(client, variant_id, "u2").get_json()
    assert first == {"variant_id": variant_id, "reported": True, "reporters": 1, "hidden": False}
    assert _report(client, variant_id, "u2").get_json()["reporters"] == 1  # the same reporter counts once
    assert _image(client, "u2").status_code == 202  # never shown to the reporter again: a miss for u2
    assert _image(client, "u5").get_json()["variant_id"] == variant_id  # still served to others

    assert _report(client, variant_id, "u3", "sexual").get_json()["hidden"] is True  # 2 distinct reporters
    status = _image(client, "u6")
    assert status.status_code == 202  # hidden from everyone: no hit
    assert backend.store.get(BLOCKED_KEYS, backend.store.get(VARIANTS, variant_id)["pk"])["by"] == "reports"  # type: ignore[index]
    seen = client.get("/image/user/u4/seen").get_json()["variants"]
    assert all(v["urls"] == {"png": None, "mp4": None, "gif": None} for v in seen if v["variant_id"] == variant_id)
    assert client.get(f"/media/{variant_id}.png", query_string={"user_id": "u4"}).status_code == 404

    queue = client.get("/admin/reports").get_json()["reports"]
    assert [(e["variant_id"], e["reporters"], e["reasons"], e["variant_status"]) for e in queue] == [
        (variant_id, 2, {"violence": 1, "sexual": 1}, "hidden")
    ]
    assert queue[0]["urls"]["png"]  # the reviewer sees what was reported

    restored = client.post(f"/admin/variants/{variant_id}/restore", json={"user_id": "mod1"}).get_json()
    assert restored["status"] == "ready"
    assert _image(client, "u7").get_json()["variant_id"] == variant_id  # served again

    assert _image(client, "u3").status_code == 202  # the reporters' miss: another variant of the key
    drain(worker)
    other = [
        v
        for v in backend.store.query(VARIANTS, [("pk", "==", doc_pk(backend, variant_id))])
        if v["variant_id"] != variant_id
    ]
    removed = client.post(f"/admin/variants/{variant_id}/remove", json={"user_id": "mod1", "block_key": True})
    assert removed.status_code == 200 and removed.get_json()["key_blocked"] is True
    doc = backend.store.get(VARIANTS, variant_id)
    assert doc is not None and doc["status"] == "removed"
    assert all(not backend.blobs.exists(a["name"]) for a in doc["artifacts"].values())  # artifacts deleted
    assert [backend.store.get(VARIANTS, v["variant_id"])["status"] for v in other] == ["hidden"]  # type: ignore[index]
    blocked = _image(client, "u8")
    assert blocked.status_code == 422 and blocked.get_json()["error"]["code"] == "content_blocked"
    again = client.post(f"/admin/variants/{variant_id}/restore", json={})
    assert again.status_code == 409  # a removed variant cannot come back

    actions = sorted(a["action"] for a in backend.store.query(AUDIT, [], limit=50))
    assert actions == ["hidden", "removed", "reported", "reported", "restored"]


def test_token_mode_reports_by_subject_and_review_is_for_administrators(tmp_path: Path) -> None:
    from infra import seed
    from shared.bootstrap import build_backend
    from tests.conftest import make_settings
    from tests.fakes.id_tokens import PROJECT, LocalIssuer

    issuer = LocalIssuer()
    settings = make_settings(
        tmp_path / "data",
        soul_auth_mode="token",
        soul_signing_key="test-signing-key-not-the-default",
        google_cloud_project=PROJECT,
        soul_jwks_file=issuer.write_jwks(tmp_path / "jwks.json"),
    )
    backend = build_backend(settings)
    seed.load(backend)
    client = create_app(Context.build(backend)).test_client()
    alice, bob = issuer.bearer("alice"), issuer.bearer("bob")
    task = client.get("/image", query_string={"soul_id": "nova", "cue": "penguin"}, headers=alice).get_json()
    drain(Worker(backend, lambda k: Colours()))
    variant_id = client.get(f"/tasks/{task['task_id']}", headers=alice).get_json()["result"]["variant_id"]
    # a body naming another user is refused: the reporter is the token's subject
    assert client.post(f"/variants/{variant_id}/report", json={"reason": "spam"}, headers=bob).status_code == 404
    assert client.post(f"/variants/{variant_id}/report", json={"reason": "spam"}, headers=alice).status_code == 200
    assert client.get("/admin/reports", headers=alice).status_code == 403
    assert client.post(f"/admin/variants/{variant_id}/remove", json={}, headers=bob).status_code == 403
    admin = issuer.bearer("mod", soul_admin=True)
    assert client.get("/admin/reports", headers=admin).get_json()["reports"][0]["reporters"] == 1
    assert client.post(f"/admin/variants/{variant_id}/remove", json={}, headers=admin).status_code == 200
    removal = [a for a in backend.store.query(AUDIT, [], limit=10) if a["action"] == "removed"]
    assert [a["user_id"] for a in removal] == ["mod"]
