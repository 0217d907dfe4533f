"""Issue 29 over HTTP through the app (Flask test client, token mode), on SQLite and on the emulators:
the quota holds under pre-generation (item 1), a variant and a key's list are visible only to whom they
were served (item 2), an Idempotency-Key is its caller's own (item 7), and `/info` names models and tells
what the workers run, never a path (item 8). Browser guards and headers: test_hardening_browser.py; slow
bodies under functions-framework: test_hardening_slow_bodies.py."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from functions.app import create_app
from functions.context import Context
from gpu_jobs.bootstrap import Generators
from gpu_jobs.worker import Worker
from infra import seed
from shared import first_serve, lanes, lifecycle
from shared.bootstrap import Backend, build_backend
from shared.domain.models import Kind, Variant
from shared.errors import RateLimited
from shared.records import FIRST_SERVED, JOBS, QUOTAS, VARIANTS
from tests.conftest import emulator_backend, make_settings
from tests.fakes.id_tokens import ISSUER as TOKEN_ISSUER
from tests.fakes.id_tokens import PROJECT, LocalIssuer

pytestmark = pytest.mark.integration

ISSUER = LocalIssuer()
ALICE, BOB, CAROL = ISSUER.bearer("alice"), ISSUER.bearer("bob"), ISSUER.bearer("carol")
ADMIN = ISSUER.bearer("root", soul_admin=True)
CUE = {"soul_id": "nova", "cue": "lighthouse on a cliff"}


def _common(tmp_path: Path) -> dict[str, Any]:
    return {
        "soul_auth_mode": "token",
        "soul_signing_key": "round3-signing-key-not-the-default",
        "soul_jwks_file": ISSUER.write_jwks(tmp_path / "jwks.json"),
        "soul_token_issuer": TOKEN_ISSUER,
        "soul_token_audience": PROJECT,
        "soul_semantic_cache": False,  # one cue, one key: these tests are about who sees and pays for what
        "soul_lease_seconds": 30,
        "soul_retry_base_seconds": 0.05,
        "soul_retry_cap_seconds": 0.2,
        "log_level": "WARNING",
    }


@pytest.fixture(params=["local", "gcp"])
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Backend]:
    def make(**overrides: Any) -> Backend:
        values = {**_common(tmp_path), **overrides}
        if request.param == "local":
            backend = build_backend(make_settings(tmp_path / "data", **values))
        else:
            backend = emulator_backend(request.getfixturevalue("gcp_env"), tmp_path / "data", **values)
        seed.load(backend)
        return backend

    return make


def _api(backend: Backend) -> tuple[Context, FlaskClient]:
    ctx = Context.build(backend)
    return ctx, create_app(ctx).test_client()


def _finish(backend: Backend, worker: Worker, job_ids: list[str], timeout: float = 60.0) -> None:
    """Run the worker until these jobs succeeded (Pub/Sub pulls may come back empty for a moment)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all((backend.store.get(JOBS, j) or {}).get("status") == "succeeded" for j in job_ids):
            return
        worker.run_once("image", timeout=1.0)
    raise AssertionError(f"jobs {job_ids} did not finish within {timeout}s")


def _made(api: FlaskClient, backend: Backend, worker: Worker, who: dict[str, str]) -> dict[str, Any]:
    """A miss for `who`, generated and read back (so it is in their seen list): the task's result."""
    r = api.get("/image", query_string=CUE, headers=who)
    assert r.status_code == 202, r.get_json()
    task = r.get_json()["task_id"]
    _finish(backend, worker, [task])
    result: dict[str, Any] = api.get(f"/tasks/{task}", headers=who).get_json()["result"]
    return result


def _day_count(backend: Backend, user: str) -> int:
    return int((backend.store.get(QUOTAS, user) or {}).get("day_count", 0))


def _error_code(r: Any) -> str:
    return str(r.get_json()["error"]["code"])


# -- item 1: pre-generation never takes a user past the cap -----------------------------------------
def test_pregeneration_never_takes_a_user_past_the_daily_cap(make_backend: Callable[..., Backend]) -> None:
    backend = make_backend(soul_pregen_daily_gpu_seconds=3600.0, soul_daily_generation_cap=2)
    ctx, api = _api(backend)
    recorder = ctx.generation.pregen
    recorder.flush_mode = "manual"  # flushes only where the test says
    worker = Worker(backend, Generators(backend.settings, backend.store).for_kind)
    first, second = _made(api, backend, worker, ALICE), _made(api, backend, worker, ALICE)
    for _ in range(5):  # past the cap: refused every time, and a refused request is no demand
        r = api.get("/image", query_string=CUE, headers=ALICE)
        assert r.status_code == 429 and _error_code(r) == "daily_cap_reached"
    assert recorder.flush(time.time()) == []  # one user alone never makes a key pre-generated

    hit = api.get("/image", query_string=CUE, headers=BOB)  # another user: a free hit on alice's first
    assert hit.status_code == 200 and hit.get_json()["variant_id"] == first["variant_id"]
    assert _day_count(backend, "bob") == 0
    made = recorder.flush(time.time())  # two distinct users within their quota: one variant ahead
    assert len(made) == 1 and made[0].lane == "image-low"
    _finish(backend, worker, [made[0].job_id])
    fresh = made[0].variant_id

    r = api.get("/image", query_string=CUE, headers=ALICE)  # her only unseen variant is the fresh one
    assert r.status_code == 429 and _error_code(r) == "daily_cap_reached"
    assert backend.store.get(FIRST_SERVED, fresh) is None  # the refusal took nothing
    seen = api.get("/image/user/alice/seen", headers=ALICE).get_json()["variant_ids"]
    assert sorted(seen) == sorted([first["variant_id"], second["variant_id"]])

    free = api.get("/image", query_string=CUE, headers=BOB).get_json()  # alice's second: someone saw it
    assert free["variant_id"] == second["variant_id"] and _day_count(backend, "bob") == 0
    paid = api.get("/image", query_string=CUE, headers=BOB).get_json()  # the fresh one: bob is its first
    assert paid["variant_id"] == fresh and _day_count(backend, "bob") == 1
    assert (backend.store.get(FIRST_SERVED, fresh) or {})["user_id"] == "bob"

    carol = [api.get("/image", query_string=CUE, headers=CAROL).get_json()["variant_id"] for _ in range(3)]
    assert carol == [first["variant_id"], second["variant_id"], fresh] and _day_count(backend, "carol") == 0


# -- item 2: object-level checks on /media and the variant list -------------------------------------
def test_media_and_the_variant_list_show_only_what_was_served_to_the_caller(
    make_backend: Callable[..., Backend],
) -> None:
    backend = make_backend()
    _, api = _api(backend)
    worker = Worker(backend, Generators(backend.settings, backend.store).for_kind)
    mine = _made(api, backend, worker, ALICE)
    vid, pk = mine["variant_id"], mine["pk_id"]

    for path in (f"/media/{vid}.png", f"/generated/{vid}.png"):
        redirect = api.get(path, headers=ALICE)
        assert redirect.status_code == 302 and redirect.headers["Cache-Control"] == "no-store"  # a signed URL
        assert api.get(path, headers=ADMIN).status_code == 302
        theirs, unknown = api.get(path, headers=BOB), api.get(path.replace(vid, "01NOSUCHVARIANT"), headers=BOB)
        assert theirs.status_code == unknown.status_code == 404
        assert _error_code(theirs) == _error_code(unknown) == "not_found"
    listing = api.get(f"/image/variants/{pk}", headers=ALICE)
    assert listing.status_code == 200 and [v["variant_id"] for v in listing.get_json()["variants"]] == [vid]
    assert [v["variant_id"] for v in api.get(f"/image/variants/{pk}", headers=ADMIN).get_json()["variants"]] == [vid]
    other_pk = "0" * len(pk)
    theirs, unknown = api.get(f"/image/variants/{pk}", headers=BOB), api.get(f"/image/variants/{other_pk}", headers=BOB)
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.get_json()["error"]["message"].replace(pk, "K") == unknown.get_json()["error"]["message"].replace(
        other_pk, "K"
    )  # an unknown key and a key with nothing served to you answer the same: no oracle
    assert "lighthouse" not in theirs.get_data(as_text=True) and vid not in theirs.get_data(as_text=True)

    assert api.get("/image", query_string=CUE, headers=BOB).get_json()["variant_id"] == vid  # now served to bob
    assert api.get(f"/media/{vid}.png", headers=BOB).status_code == 302
    newer = _made(api, backend, worker, BOB)["variant_id"]  # bob has seen all: a second variant, his only
    bobs = api.get(f"/image/variants/{pk}", headers=BOB).get_json()["variants"]
    assert sorted(v["variant_id"] for v in bobs) == sorted([vid, newer])
    alices = api.get(f"/image/variants/{pk}", headers=ALICE).get_json()["variants"]
    assert [v["variant_id"] for v in alices] == [vid]
    assert api.get(f"/media/{newer}.png", headers=ALICE).status_code == 404


# -- item 7: an Idempotency-Key is its caller's own -------------------------------------------------
def test_the_same_idempotency_key_of_two_users_is_two_keys(make_backend: Callable[..., Backend]) -> None:
    backend = make_backend()
    _, api = _api(backend)
    key = {"Idempotency-Key": "order-1", "Content-Type": "application/json"}
    paris = json.dumps({"soul_id": "nova", "city_key": "paris"})
    tokyo = json.dumps({"soul_id": "nova", "city_key": "tokyo"})
    first = api.post("/image/selfie", data=paris, headers={**ALICE, **key})
    assert first.status_code == 202
    bobs = api.post("/image/selfie", data=tokyo, headers={**BOB, **key})
    assert bobs.status_code == 202 and "Idempotent-Replayed" not in bobs.headers  # not 422: his own key
    assert bobs.get_json()["task_id"] != first.get_json()["task_id"]
    again = api.post("/image/selfie", data=paris, headers={**ALICE, **key})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.get_json() == first.get_json()
    reused = api.post("/image/selfie", data=tokyo, headers={**ALICE, **key})  # her own key, another request
    assert reused.status_code == 422 and _error_code(reused) == "idempotency_key_reused"


# -- item 8: /info names models and tells what the workers run --------------------------------------
def test_info_names_models_never_paths_and_tells_what_the_workers_run(
    make_backend: Callable[..., Backend], tmp_path: Path
) -> None:
    weights = tmp_path / "srv-private-models" / "sdxl-base"  # a diffusers folder, as the models bucket holds
    weights.mkdir(parents=True)
    (weights / "model_index.json").write_text("{}")
    empty = tmp_path / "srv-private-models" / "svd-empty"  # set, but the bucket never got the weights
    empty.mkdir()
    backend = make_backend(sdxl_model_path=weights, svd_model_path=empty)
    _, api = _api(backend)
    info = api.get("/info")  # public: no token
    assert info.status_code == 200 and "srv-private-models" not in info.get_data(as_text=True)
    body = info.get_json()
    if backend.settings.soul_backend == "local":  # `soul dev`: its workers run with its own settings
        assert body["lanes"]["image"] == {"model": "sdxl", "real": True, "missing": False}
        assert body["generators"]["image"] == "sdxl (real)"
        assert body["lanes"]["video"] == {"model": "svd", "real": False, "missing": True}
        assert "model_unavailable" in body["generators"]["video"]
        return
    # The cloud api has no model paths of its own: it says only what a worker reported.
    assert body["lanes"]["image"] == {"model": None, "real": None, "missing": None}
    assert "unknown" in body["generators"]["image"]
    lanes.report(backend.store, backend.settings, ["image", "video"], time.time())  # a worker starting
    _, api = _api(backend)  # a fresh api process (one reads the reports at most every 10 s)
    body = api.get("/info").get_json()
    assert body["lanes"]["image"] == {"model": "sdxl", "real": True, "missing": False}
    assert body["lanes"]["video"] == {"model": "svd", "real": False, "missing": True}
    assert "unknown" in body["generators"]["wan"] and "srv-private-models" not in json.dumps(body)
    plain = backend.settings.model_copy(update={"sdxl_model_path": None})  # a worker with no weights at all
    lanes.report(backend.store, plain, ["image"], time.time())
    _, api = _api(backend)
    assert "preview placeholder" in api.get("/info").get_json()["generators"]["image"]


def test_the_hit_paths_transaction_fallback_charges_a_pregenerated_variant_once(
    make_backend: Callable[..., Backend],
) -> None:
    """Past its compare-and-set attempts the hit path serves in one transaction (`attempts=0` goes there
    at once): the first viewer's charge runs before it, never inside it, and a refusal serves nothing."""
    backend = make_backend()
    store, now = backend.store, time.time()

    def variant(vid: str) -> Variant:
        return Variant(
            variant_id=vid,
            pk="k" * 32,
            kind=Kind.IMAGE,
            soul_id="nova",
            seed=1,
            generator="preview",
            job_id=f"job-{vid}",
            created_at=now,
            expire_at=now + 90 * 86400,
            pregen=True,
        )

    def refuse(user: str) -> None:
        raise RateLimited("daily cap", code="daily_cap_reached", retry_after=60)

    store.create(VARIANTS, "01PREGEN0000000000000000V1", variant("01PREGEN0000000000000000V1").doc())
    charged: list[str] = []

    def serve(user: str, take: Callable[[str], None]) -> Variant | None:
        admit = lambda v: first_serve.admit(store, user, v, now, take)  # noqa: E731
        return lifecycle.serve_cached(store, user_id=user, pk="k" * 32, now=now, attempts=0, admit=admit)

    with pytest.raises(RateLimited):  # over the cap: nothing served, nothing claimed
        serve("dana", refuse)
    assert store.get(FIRST_SERVED, "01PREGEN0000000000000000V1") is None
    assert (served := serve("dana", charged.append)) is not None and charged == ["dana"]
    assert served.variant_id == "01PREGEN0000000000000000V1"
    assert serve("erin", charged.append) is not None and charged == ["dana"]  # served first to dana: free
    assert serve("dana", charged.append) is None  # seen all
