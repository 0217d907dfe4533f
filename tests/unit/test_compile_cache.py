"""The persistent compile cache (issue 25 item 2): keys, the two stores, and — slow — two cold starts of a
compiled tiny SDXL generator with inductor, the second of which compiles nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gpu_jobs.compile_cache import BlobArtifactStore, CompileCache, DirectoryArtifactStore, cache_key
from gpu_jobs.runtime_plan import DeviceInfo, SpeedOptions, plan_for
from shared.adapters.fs_blobs import DirectoryBlobStore
from shared.clock import SystemClock

pytestmark = pytest.mark.unit
L4 = DeviceInfo("cuda", (8, 9), 22 * 2**30, "NVIDIA L4")


def test_key_names_the_gpu_torch_and_model_and_changes_with_the_plan() -> None:
    plan, speed = plan_for("sdxl", L4, SpeedOptions(compile=True)), SpeedOptions(compile=True)
    key = cache_key("sdxl", L4, plan, speed, [(4, 1024, 1024)])
    assert key.startswith(f"sdxl/nvidia-l4-sm89/torch-{torch.__version__.replace('.', '-').replace('+', '-')}/")
    assert key == cache_key("sdxl", L4, plan, speed, [(4, 1024, 1024)])  # stable across starts
    others = {
        cache_key("sdxl", L4, plan, speed, [(2, 1024, 1024)]),  # another warmed set
        cache_key("sdxl", L4, replace(plan, fp8_unet=True), speed, [(4, 1024, 1024)]),
        cache_key("sdxl", L4, plan, replace(speed, compile_mode="default"), [(4, 1024, 1024)]),
        cache_key("sdxl", replace(L4, name="NVIDIA H100", capability=(9, 0)), plan, speed, [(4, 1024, 1024)]),
        cache_key("svd", L4, plan, speed, [(4, 1024, 1024)]),
    }
    assert key not in others and len(others) == 5


@pytest.mark.parametrize("kind", ["directory", "bucket"])
def test_stores_round_trip_and_a_missing_blob_is_none(tmp_path: Path, kind: str) -> None:
    if kind == "directory":
        store: DirectoryArtifactStore | BlobArtifactStore = DirectoryArtifactStore(tmp_path)
    else:  # the models bucket through the BlobStore port (create-only: a second save is a no-op)
        store = BlobArtifactStore(DirectoryBlobStore(tmp_path, SystemClock(), b"k"))
    assert store.load("sdxl/gpu/torch/x.bin") is None
    store.save("sdxl/gpu/torch/x.bin", b"artifacts")
    store.save("sdxl/gpu/torch/x.bin", b"artifacts")
    assert store.load("sdxl/gpu/torch/x.bin") == b"artifacts"


def test_an_unusable_blob_costs_a_compile_not_a_start(tmp_path: Path) -> None:
    store = DirectoryArtifactStore(tmp_path)
    store.save("k.bin", b"not torch's artifacts")
    cache = CompileCache(store)
    assert cache.load("k.bin") is False and cache.loaded is False
    assert cache.load("absent.bin") is False


@pytest.mark.slow
def test_second_cold_start_compiles_nothing() -> None:
    """Two processes, each with an empty local inductor cache, share only the store: the first compiles
    (an FX-graph cache miss) and saves, the second loads and hits. Minutes on a 2-core box (slow)."""
    from gpu_jobs.bench.compile_cache import two_starts

    first, second = two_starts()
    assert first["loaded"] is False and first["fxgraph_cache_miss"] >= 1 and first["stored_files"]
    assert second["loaded"] is True and second["fxgraph_cache_miss"] == 0 and second["fxgraph_cache_hit"] >= 1


def test_the_worker_keeps_compiled_unets_in_the_models_bucket_or_a_local_directory(tmp_path: Path) -> None:
    from gpu_jobs.bootstrap import Generators
    from shared.adapters.gcp_storage import GcsBlobStore
    from shared.config import Settings

    def store(**env: object) -> object:
        return Generators(Settings(soul_data_dir=tmp_path, **env))._compile_cache()  # type: ignore[arg-type]

    assert store(soul_compile_cache_dir=tmp_path) is None  # nothing compiled, nothing to keep
    local = store(soul_torch_compile=True, soul_compile_cache_dir=tmp_path)
    assert isinstance(local, DirectoryArtifactStore) and local.root == tmp_path / "artifacts"
    cloud = store(soul_torch_compile=True, soul_models_bucket="p-soul-models", soul_compile_cache_dir=tmp_path)
    assert isinstance(cloud, BlobArtifactStore) and isinstance(cloud.blobs, GcsBlobStore)
    assert cloud.blobs._bucket_name == "p-soul-models" and cloud.prefix == "compile-cache/"
    assert store(soul_torch_compile=True) is None  # compiles at every start, as before
