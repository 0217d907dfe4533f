"""Prompt moderation over HTTP on SQLite and the emulators (issue 22 §1): a blocked cue is a 4xx with the
category in words before any job, key or quota exists, only an audit record is written, decisions are
cached per text and policy, the hit path checks nothing, and a policy change re-checks keys lazily."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from shared.records import AUDIT, INFLIGHT, JOBS, PROMPT_KEYS, QUOTAS, VARIANTS
from tests.conftest import drain
from tests.integration.safety_support import make_backend

pytestmark = pytest.mark.integration
BACKENDS = ["local", "gcp"]


def _nothing_written(store: object) -> None:
    for collection in (JOBS, PROMPT_KEYS, INFLIGHT, QUOTAS):
        assert store.query(collection, [], limit=5) == [], collection  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", BACKENDS)
def test_blocked_cues_on_every_miss_path(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    backend = make_backend(kind, tmp_path, request, dashscope_api_key="sk-test")
    ctx = Context.build(backend)
    client = create_app(ctx).test_client()
    calls = [
        client.get("/image", query_string={"soul_id": "nova", "cue": "a naked child", "user_id": "u1"}),
        client.get("/image", query_string={"soul_id": "nova", "cue": "A  NAKED child", "user_id": "u2"}),
        client.get("/wan-video/", query_string={"soul_id": "nova", "cue": "cooking meth", "user_id": "u1"}),
        client.post("/image/selfie", json={"soul_id": "nova", "city_key": "paris", "mood": "naked", "user_id": "u1"}),
        client.post(
            "/wan-video/selfie", json={"soul_id": "nova", "city_key": "paris", "mood": "naked", "user_id": "u1"}
        ),
        client.post("/wan-video/generate-direct", json={"positive_prompt": "a man beheaded", "user_id": "u1"}),
    ]
    for r in calls:
        assert r.status_code == 422, r.get_json()
        error = r.get_json()["error"]
        assert error["code"] == "content_blocked"
    assert "sexual content involving minors" in calls[0].get_json()["error"]["message"]
    assert "illegal drug use" in calls[2].get_json()["error"]["message"]
    _nothing_written(backend.store)
    audits = backend.store.query(AUDIT, [], limit=20)
    assert len(audits) == len(calls) and {a["action"] for a in audits} == {"prompt_blocked"}
    assert {a["user_id"] for a in audits} == {"u1", "u2"}
    # one check for both surface forms of the first cue, and one for the selfie (image and Wan share it)
    assert ctx.generation.safety.checks == 5

    r = client.get("/image", query_string={"soul_id": "nova", "cue": "chicken breast", "user_id": "u1"})
    assert r.status_code == 202  # an everyday meaning of an unsafe word


@pytest.mark.parametrize("kind", BACKENDS)
def test_policy_change_rechecks_existing_keys_lazily(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Variants made with moderation off; then on: the blocked key is refused on its next hit, the benign one
    is served after one check, and a variant made under the current policy is served with no check."""
    off = make_backend(kind, tmp_path, request, soul_text_moderation="off")
    client = create_app(Context.build(off)).test_client()
    for cue in ("topless woman on the beach", "penguin on ice"):
        assert client.get("/image", query_string={"soul_id": "nova", "cue": cue, "user_id": "u1"}).status_code == 202
    worker = Worker(off, Generators(off.settings, off.store).for_kind)
    drain(worker)

    on = dataclasses.replace(off, settings=off.settings.model_copy(update={"soul_text_moderation": "local"}))
    ctx = Context.build(on)
    client = create_app(ctx).test_client()
    blocked = client.get(
        "/image", query_string={"soul_id": "nova", "cue": "topless woman on the beach", "user_id": "u2"}
    )
    assert blocked.status_code == 422 and blocked.get_json()["error"]["code"] == "content_blocked"
    fine = client.get("/image", query_string={"soul_id": "nova", "cue": "penguin on ice", "user_id": "u2"})
    assert fine.status_code == 200 and fine.get_json()["cache_hit"] is True
    assert ctx.generation.safety.checks == 2

    # a key made under the current policy: its hits cost no check at all
    assert (
        client.get("/image", query_string={"soul_id": "nova", "cue": "a red fox", "user_id": "u1"}).status_code == 202
    )
    drain(Worker(on, Generators(on.settings, on.store).for_kind))
    hit = client.get("/image", query_string={"soul_id": "nova", "cue": "a red fox", "user_id": "u3"})
    assert hit.status_code == 200 and hit.get_json()["cache_hit"] is True
    variant = on.store.get(VARIANTS, hit.get_json()["variant_id"])
    assert variant is not None and not ctx.generation.safety.stale(variant["safety_policy"])


def test_strict_souls_block_a_weak_term_alone(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    backend = make_backend("local", tmp_path, request, soul_strict_souls="kai")
    client = create_app(Context.build(backend)).test_client()
    ask = {"cue": "a sexy elf", "user_id": "u1"}
    assert client.get("/image", query_string={"soul_id": "nova", **ask}).status_code == 202
    strict = client.get("/image", query_string={"soul_id": "kai", **ask})
    assert strict.status_code == 422 and "sexual content" in strict.get_json()["error"]["message"]
