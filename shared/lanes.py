"""What each lane really runs, for `/info` (docs/THREATS.md, "What /info tells"): the model's name and
whether it is real, never a path or a key.

The API process does not load models: on the local backend it shares its settings with the workers it
starts (`soul dev`), so those settings are the truth; on Google Cloud the workers are other deployables
with other settings (the API has no SDXL_MODEL_PATH), so each worker reports what it loaded at start-up
(`workers/{lane}`, one small document per lane) and `/info` says what the last report said, or that no
worker has reported yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import LANES, Settings
from shared.ports import DocumentStore
from shared.records import WORKERS


@dataclass(frozen=True)
class Lane:
    model: str  # "sdxl", "svd", a Wan model name, "preview" or "none"
    real: bool
    missing: bool = False  # a weights path is set but holds no model: its jobs fail with model_unavailable


def has_weights(path: Path) -> bool:
    """A single-file checkpoint, or a diffusers folder (model_index.json names its parts)."""
    return path.is_file() or (path / "model_index.json").is_file()


def _weights(model: str, path: Path | None) -> Lane:
    if path is None:
        return Lane("preview", False)
    return Lane(model, True) if has_weights(path) else Lane(model, False, missing=True)


def configured(settings: Settings) -> dict[str, Lane]:
    """What a worker with these settings runs on each lane (weights looked for where it would load them)."""
    return {
        "image": _weights("sdxl", settings.sdxl_model_path),
        "video": _weights("svd", settings.svd_model_path),
        "wan": Lane(settings.wan_model, True) if settings.dashscope_api_key else Lane("none", False),
    }


def report(store: DocumentStore, settings: Settings, lanes: list[str], now: float) -> None:
    """A worker says what it runs on its lanes (at start-up, after loading its generators)."""
    mine = configured(settings)
    for lane in lanes:
        found = mine[lane]
        doc = {"lane": lane, "model": found.model, "real": found.real, "missing": found.missing, "at": now}
        store.set(WORKERS, lane, doc)


def describe(lane: str, found: Lane | None) -> str:
    if found is None:
        return "unknown: no worker has reported since start-up"
    if found.real:
        return f"{found.model} (real)"
    if found.missing:
        return f"{found.model}: weights missing on the workers, its jobs fail with model_unavailable"
    if lane == "wan":
        return "not configured (no DASHSCOPE_API_KEY on the workers)"
    return f"preview placeholder (no {'SDXL' if lane == 'image' else 'SVD'} weights configured)"


def current(store: DocumentStore, settings: Settings) -> dict[str, Lane | None]:
    """Each lane as the workers run it: their settings on the local backend, their reports on gcp."""
    if settings.soul_backend == "local":
        return dict(configured(settings))
    docs: list[Any] = store.get_many(WORKERS, list(LANES))
    return {
        lane: Lane(str(d["model"]), bool(d["real"]), bool(d.get("missing", False))) if d else None
        for lane, d in zip(LANES, docs, strict=True)
    }
