"""A persistent compile cache: what `torch.compile` made at warm-up, saved to the models bucket, loaded
at the next start, so a cold worker on the same GPU, torch and model does not compile again.

torch's portable cache artifacts (`torch.compiler.save_cache_artifacts()` /
`load_cache_artifacts()`) bundle inductor's FX-graph cache entries, AOTAutograd's and the autotuning
results as one blob. Loaded before warm-up, they turn every inductor compile of the warm-up into a
cache hit (dynamo still traces, in seconds); saved after warm-up when anything new was compiled. The
blob is only valid for the GPU, torch, diffusers and plan that made it, so those are in its key
(`cache_key`). It lives behind a small port (`ArtifactStore`): a directory locally, the models bucket
through the `BlobStore` port in the cloud (`BlobArtifactStore`); a missing or unreadable blob means
compiling as before, never a failed start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

import torch

from gpu_jobs.runtime_plan import DeviceInfo, RuntimePlan, SpeedOptions
from shared.errors import AlreadyExists, NotFound, SoulError
from shared.ports import BlobStore

log = logging.getLogger(__name__)
PREFIX = "compile-cache/"


class ArtifactStore(Protocol):
    """Where compiled artifacts persist between worker starts (the models bucket)."""

    def load(self, key: str) -> bytes | None:
        """The blob saved under `key`, or None."""
        ...

    def save(self, key: str, data: bytes) -> None:
        """Keep `data` under `key` (a concurrent worker's save of the same key may win)."""
        ...


class DirectoryArtifactStore:
    """A local directory (a workstation's, or a writable mount)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def load(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def save(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)  # readers never see half a blob


class BlobArtifactStore:
    """The models bucket through the `BlobStore` port (GCS in the cloud), under `compile-cache/`."""

    def __init__(self, blobs: BlobStore, prefix: str = PREFIX) -> None:
        self.blobs, self.prefix = blobs, prefix

    def load(self, key: str) -> bytes | None:
        try:
            return self.blobs.get(self.prefix + key)
        except NotFound:
            return None

    def save(self, key: str, data: bytes) -> None:
        try:
            self.blobs.put(self.prefix + key, data, "application/octet-stream")
        except AlreadyExists:
            log.info("compile cache %s already saved by another worker", key)


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "none"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "unknown"


def cache_key(model: str, device: DeviceInfo, plan: RuntimePlan, speed: SpeedOptions, warmed: Any) -> str:
    """`<model>/<gpu>-sm<cap>/torch-<version>/<digest>.bin`: the digest covers diffusers' version, the
    plan, the compile mode and backend and the warmed shapes, so any change makes a new blob."""
    backend = speed.compile_backend if isinstance(speed.compile_backend, str) else "custom"
    what = {
        "plan": {f.name: str(getattr(plan, f.name)) for f in fields(plan)},
        "mode": speed.compile_mode,
        "backend": backend,
        "warmed": warmed,
        "diffusers": _version("diffusers"),
        "triton": _version("triton"),
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:20]
    gpu = f"{_slug(device.name or device.type)}-sm{device.capability[0]}{device.capability[1]}"
    return f"{model}/{gpu}/torch-{_slug(torch.__version__)}/{digest}.bin"


@dataclass
class CompileCache:
    """Loads a model's artifacts before its warm-up and saves them after (`SdxlGenerator`, `SvdGenerator`)."""

    store: ArtifactStore
    loaded: bool = False

    def load(self, key: str) -> bool:
        """Hot-load the blob under `key` into torch's caches; False when there is none (or it is unusable)."""
        try:
            data = self.store.load(key)
            if data is None:
                return False
            info = torch.compiler.load_cache_artifacts(data)  # None: torch refused it (corrupt, other version)
        except (SoulError, OSError, RuntimeError, ValueError) as exc:  # a bad blob costs a compile, not a start
            log.warning("compile cache %s not loaded: %s", key, exc)
            return False
        if info is None:
            log.warning("compile cache %s not loaded: torch refused the blob", key)
            return False
        self.loaded = True
        log.info("compile cache %s loaded (%d bytes)", key, len(data))
        return True

    def save(self, key: str) -> bool:
        """Save what this process compiled; skipped when the blob came from the store (nothing new)."""
        if self.loaded:
            return False
        artifacts = torch.compiler.save_cache_artifacts()
        if artifacts is None or not artifacts[0]:
            return False
        try:
            self.store.save(key, artifacts[0])
        except (SoulError, OSError) as exc:  # the next start compiles again; this one is warm
            log.warning("compile cache %s not saved: %s", key, exc)
            return False
        log.info("compile cache %s saved (%d bytes)", key, len(artifacts[0]))
        return True
