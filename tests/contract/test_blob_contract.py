"""BlobStore contract: directory store and GCS (fake-gcs-server) behave the same through the port."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest

from shared.errors import AlreadyExists, InvalidInput, NotFound

pytestmark = pytest.mark.contract


def test_put_is_create_only(backend: Any) -> None:
    """A second write to a taken name fails and leaves the first object intact.

    On gcp this is `if_generation_match=0`; fake-gcs-server 1.54 honours it (412 → AlreadyExists),
    so this runs there for real (gcp-storage-emulator would not: it ignores preconditions).
    """
    blobs = backend.blobs
    blobs.put("variants/v1/image.png", b"first", "image/png")
    with pytest.raises(AlreadyExists):
        blobs.put("variants/v1/image.png", b"second", "image/png")
    assert blobs.get("variants/v1/image.png") == b"first"


def test_get_exists_delete(backend: Any) -> None:
    blobs = backend.blobs
    assert blobs.exists("a/b.mp4") is False
    with pytest.raises(NotFound):
        blobs.get("a/b.mp4")
    data = bytes(range(256)) * 100
    blobs.put("a/b.mp4", data, "video/mp4")
    assert blobs.exists("a/b.mp4") is True
    assert blobs.get("a/b.mp4") == data
    blobs.delete("a/b.mp4")
    blobs.delete("a/b.mp4")  # deleting a missing object is not an error
    assert blobs.exists("a/b.mp4") is False
    blobs.put("a/b.mp4", b"again", "video/mp4")  # the name is free again
    assert blobs.get("a/b.mp4") == b"again"


def test_list_by_prefix_sorted(backend: Any) -> None:
    blobs = backend.blobs
    for name in ("v/2/x.gif", "v/1/x.png", "w/1/x.png", "v/1/x.mp4"):
        blobs.put(name, b".", "application/octet-stream")
    assert blobs.list("v/1/") == ["v/1/x.mp4", "v/1/x.png"]
    assert blobs.list("v/") == ["v/1/x.mp4", "v/1/x.png", "v/2/x.gif"]
    assert blobs.list() == ["v/1/x.mp4", "v/1/x.png", "v/2/x.gif", "w/1/x.png"]
    assert blobs.list("nothing/") == []


def test_list_pages_after_a_name(backend: Any) -> None:
    """The reconcile pass walks the bucket a bounded page at a time (issue 24)."""
    blobs = backend.blobs
    for name in ("v/1/x.png", "v/2/x.png", "v/3/x.png", "w/1/x.png"):
        blobs.put(name, b".", "application/octet-stream")
    assert blobs.list("v/", limit=2) == ["v/1/x.png", "v/2/x.png"]
    assert blobs.list("v/", start_after="v/2/x.png", limit=2) == ["v/3/x.png"]
    assert blobs.list("v/", start_after="v/1/x.png") == ["v/2/x.png", "v/3/x.png"]
    assert blobs.list("v/", start_after="v/3/x.png", limit=2) == []


@pytest.mark.parametrize("name", ["../etc/passwd", "/abs", "a//b", "", "a/../b", "sp ace"])
def test_invalid_names_are_refused(backend: Any, name: str) -> None:
    with pytest.raises(InvalidInput):
        backend.blobs.put(name, b".", "text/plain")


def test_signed_url_names_the_object_and_serves_it(backend: Any) -> None:
    """Shape only on gcp: fake-gcs serves V4 URLs without checking the signature (see gcp_storage)."""
    blobs = backend.blobs
    name = "variants/v_1/clip.gif"
    blobs.put(name, b"GIF89a", "image/gif")
    url = blobs.signed_url(name, 300)
    assert unquote(url.split("?", 1)[0]).endswith(name)
    query = url.split("?", 1)[1]
    assert ("X-Goog-Expires=300" in query) if backend.name == "gcp" else ("expires=" in query)
    assert "Signature=" in query if backend.name == "gcp" else "sig=" in query
    assert backend.fetch(url, name) == b"GIF89a"
    assert blobs.signed_url("variants/v_1/other.gif", 300) != url


def test_gcs_keeps_the_content_type(backend: Any) -> None:
    if backend.name != "gcp":
        pytest.skip("the directory store keeps no content type; the API infers it from the extension")
    backend.blobs.put("v/1/x.mp4", b"....", "video/mp4")
    assert backend.blobs.bucket.get_blob("v/1/x.mp4").content_type == "video/mp4"
