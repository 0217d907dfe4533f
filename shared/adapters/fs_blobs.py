"""BlobStore on a directory, with GCS's create-only writes and HMAC-signed, expiring URLs.

A write goes to a temporary file and is hard-linked into place: the link fails if the name exists,
so a reader never sees a half-written object and a second writer never replaces the first.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import quote, urlencode

from shared.errors import AlreadyExists, InvalidInput, NotFound, StorageUnavailable
from shared.ports import Clock

MIN_FREE_BYTES = 16 * 1024 * 1024  # /ready reports the store as full below this
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def check_name(name: str) -> str:
    if len(name) > 512 or not _NAME.match(name) or ".." in name:
        raise InvalidInput(f"invalid object name {name!r}")
    return name


def _unwritable(exc: OSError) -> StorageUnavailable:
    """The reason (read-only file system, no space left, permission denied) without the path. No
    Retry-After: the worker's own capped backoff paces its retries."""
    return StorageUnavailable(f"blob store cannot be written ({exc.strerror or type(exc).__name__})")


def sign(key: bytes, name: str, expires: int) -> str:
    return hmac.new(key, f"{name}\n{expires}".encode(), hashlib.sha256).hexdigest()


class DirectoryBlobStore:
    def __init__(self, root: Path, clock: Clock, signing_key: bytes, url_prefix: str = "/artifacts") -> None:
        self._root = Path(root)
        self._clock = clock
        self._key = signing_key
        self._prefix = url_prefix

    def _path(self, name: str) -> Path:
        return self._root / check_name(name)

    def put(self, name: str, data: bytes, content_type: str) -> None:
        path = self._path(name)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        except OSError as exc:
            raise _unwritable(exc) from None
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)
        except FileExistsError:
            raise AlreadyExists(f"object {name} already exists") from None
        except OSError as exc:
            raise _unwritable(exc) from None
        finally:
            os.unlink(tmp)

    def check(self) -> None:
        """Readiness: the directory takes a write and has room (StorageUnavailable if not)."""
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self._root, prefix=".tmp-ready-") as fh:
                fh.write(b"ok")
            free = shutil.disk_usage(self._root).free
        except OSError as exc:
            raise _unwritable(exc) from None
        if free < MIN_FREE_BYTES:
            raise StorageUnavailable(f"blob store is full ({free // 1024} KiB free)", retry_after=30)

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"object {name} not found") from None

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def list(self, prefix: str = "", *, start_after: str = "", limit: int | None = None) -> list[str]:
        if not self._root.exists():
            return []
        names = (p.relative_to(self._root).as_posix() for p in self._root.rglob("*") if p.is_file())
        found = sorted(
            n for n in names if n.startswith(prefix) and n > start_after and not Path(n).name.startswith(".tmp-")
        )
        return found if limit is None else found[:limit]

    def signed_url(self, name: str, ttl_seconds: int) -> str:
        expires = int(self._clock.now()) + ttl_seconds
        query = urlencode({"expires": expires, "sig": sign(self._key, check_name(name), expires)})
        return f"{self._prefix}/{quote(name)}?{query}"

    def verify(self, name: str, expires: int, signature: str) -> bool:
        if expires < self._clock.now():
            return False
        return hmac.compare_digest(sign(self._key, name, expires), signature)
