"""Bad input on every endpoint → a 4xx JSON `{error: {code, message}}`, nothing written, no traceback."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

from shared.bootstrap import Backend
from shared.records import JOBS, STYLES

pytestmark = pytest.mark.integration

LONG = "x" * 5000
CASES = [
    ("GET", "/image", {"cue": "penguin", "user_id": "u1"}, None),  # missing soul_id
    ("GET", "/image", {"soul_id": "nova", "cue": LONG, "user_id": "u1"}, None),  # oversized cue
    ("GET", "/image", {"soul_id": "nobody", "cue": "penguin", "user_id": "u1"}, None),  # unknown soul
    ("GET", "/image", {"soul_id": "nova", "cue": "!!!", "user_id": "u1"}, None),  # nothing left
    ("GET", "/image", {"soul_id": "nova", "cue": "penguin", "user_id": "u1", "wait": "-1"}, None),
    ("GET", "/image", {"soul_id": "nova", "cue": "penguin"}, None),  # no user in dev mode
    ("GET", "/image", {"soul_id": "../etc", "cue": "penguin", "user_id": "u1"}, None),
    ("POST", "/image/selfie", None, "not json"),
    ("POST", "/image/selfie", None, "[1, 2]"),
    ("POST", "/image/selfie", None, {"soul_id": "nova", "user_id": "u1"}),
    ("POST", "/image/selfie", None, {"soul_id": "nova", "city_key": "paris", "user_id": "u1", "extra": 1}),
    ("POST", "/image/selfie", None, {"soul_id": "nova", "city_key": "mars", "user_id": "u1"}),
    ("POST", "/image/mark-seen", {"user_id": "u1"}, None),
    ("POST", "/image/mark-seen", {"variant_id": "nope", "user_id": "u1"}, None),
    ("GET", "/image/variants/doesnotexist", None, None),
    ("GET", "/video/estimate", {"num_frames": "-3"}, None),
    ("GET", "/video/estimate", {"num_frames": "many"}, None),
    ("POST", "/video/generate", None, {"image_path": "/etc/passwd", "user_id": "u1"}),
    ("POST", "/video/generate", None, {"variant_id": "nope", "user_id": "u1"}),
    ("POST", "/video/generate", None, {"variant_id": "nope", "num_frames": -1, "user_id": "u1"}),
    ("POST", "/video/generate-from-variant", {"variant_id": "nope", "user_id": "u1"}, None),
    ("GET", "/wan-video/", {"soul_id": "nova", "user_id": "u1"}, None),
    ("POST", "/wan-video/selfie", None, {"soul_id": "nova", "city_key": "", "user_id": "u1"}),
    ("POST", "/wan-video/generate-direct", None, {"positive_prompt": "", "user_id": "u1"}),
    ("POST", "/wan-video/generate-direct", None, {"positive_prompt": "x", "seed": -5, "user_id": "u1"}),
    ("GET", "/tasks/nope", None, None),
    ("DELETE", "/tasks/nope", None, None),
    ("GET", "/tasks", {"limit": "0"}, None),
    ("GET", "/tasks", {"status": "bogus"}, None),
    ("POST", "/style", None, {"soul_id": "new", "prompt_template": "no placeholder here"}),
    ("POST", "/style", None, {"soul_id": "New Soul", "prompt_template": "{cue} x"}),
    ("POST", "/style", None, {"soul_id": "new", "prompt_template": "{cue} style", "params": {"steps": -1}}),
    ("GET", "/style/nobody", None, None),
    ("DELETE", "/style/nobody", None, None),
    ("GET", "/no/such/route", None, None),
    ("PUT", "/image", None, None),
]


@pytest.mark.parametrize("method,path,query,body", CASES)
def test_bad_input_is_a_clean_4xx(
    client: FlaskClient, backend: Backend, method: str, path: str, query: dict | None, body: object
) -> None:
    jobs, styles = backend.store.count(JOBS), backend.store.count(STYLES)
    data = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
    r = client.open(path, method=method, query_string=query, data=data, content_type="application/json")
    assert 400 <= r.status_code < 500, (r.status_code, r.data[:300])
    payload = r.get_json()
    # `field` names the request field at fault when one is (functions/plain_errors.py)
    assert set(payload) == {"error"} and set(payload["error"]) - {"field"} == {"code", "message"}
    text = r.get_data(as_text=True)
    assert "Traceback" not in text and "/work/" not in text and ".py" not in text
    assert backend.store.count(JOBS) == jobs and backend.store.count(STYLES) == styles


def test_oversized_body_is_413(client: FlaskClient) -> None:
    r = client.post("/image/selfie", data="{" + " " * 200_000 + "}", content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"]["code"]


def test_openapi_describes_every_route(client: FlaskClient) -> None:
    spec = client.get("/openapi.json").get_json()
    paths = spec["paths"]
    for path in [
        "/image",
        "/image/selfie",
        "/image/mark-seen",
        "/image/variants/{pk_id}",
        "/image/user/{user_id}/seen",
        "/video/estimate",
        "/video/generate",
        "/video/generate-from-variant",
        "/wan-video/",
        "/wan-video/selfie",
        "/wan-video/generate-direct",
        "/tasks/{task_id}",
        "/tasks",
        "/tasks/stats/summary",
        "/style",
        "/style/{soul_id}",
        "/healthz",
        "/ready",
        "/info",
    ]:
        assert path in paths, path
    assert "delete" in paths["/tasks/{task_id}"] and "delete" in paths["/style/{soul_id}"]
    docs = client.get("/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.data.lower()


def test_style_crud_versions_and_archives(client: FlaskClient, worker: object) -> None:
    from tests.conftest import drain

    body = {"soul_id": "zed", "prompt_template": "{cue}, zed style", "negative_prompt": "blurry"}
    assert client.post("/style", json=body).get_json()["version"] == 1
    assert client.post("/style", json=body).get_json()["version"] == 1  # no change, no bump
    r = client.get("/image", query_string={"soul_id": "zed", "cue": "cat", "user_id": "u1"})
    drain(worker)  # type: ignore[arg-type]
    old_pk = r.get_json()["pk_id"]
    assert client.post("/style", json={**body, "negative_prompt": "dark"}).get_json()["version"] == 2
    r2 = client.get("/image", query_string={"soul_id": "zed", "cue": "cat", "user_id": "u2"})
    assert r2.status_code == 202 and r2.get_json()["pk_id"] != old_pk  # old variants no longer match
    assert client.get(f"/image/variants/{old_pk}").get_json()["variants"]  # but stay readable
    assert client.delete("/style/zed").get_json()["status"] == "archived"
    assert client.get("/style/zed").status_code == 404
    assert client.get(f"/image/variants/{old_pk}").get_json()["variants"]
    client.post("/style", json={"soul_id": "tmp", "prompt_template": "{cue} tmp"})
    assert client.delete("/style/tmp").get_json()["status"] == "deleted"
