"""Fixtures shared by the content-safety tests: a seeded backend on SQLite or on the emulators,
built with the settings a test asks for, and a small generator whose colour a fake screener reads."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from gpu_jobs.generators.base import GenRequest, Output
from infra import seed
from shared.bootstrap import Backend, build_backend
from tests.conftest import emulator_backend, make_settings


def make_backend(kind: str, tmp_path: Path, request: pytest.FixtureRequest, **overrides: object) -> Backend:
    if kind == "local":
        backend = build_backend(make_settings(tmp_path / "data", **overrides))
    else:
        backend = emulator_backend(request.getfixturevalue("gcp_env"), tmp_path / "data", **overrides)
    seed.load(backend)
    return backend


class Colours:
    """Solid images: red for prompts containing a word in `red_always`, red on the first try only for
    `red_once` (a reseeded retry comes out blue), blue otherwise. A fake screener blocks red."""

    name = "colours"

    def __init__(self, red_always: Sequence[str] = (), red_once: Sequence[str] = ()) -> None:
        self.red_always, self.red_once = tuple(red_always), tuple(red_once)
        self.calls: list[tuple[str, int]] = []

    def setup(self) -> None:
        pass

    def generate(self, requests: Sequence[GenRequest]) -> list[Output]:
        out = []
        for r in requests:
            first = not any(p == r.spec.prompt for p, _ in self.calls)
            self.calls.append((r.spec.prompt, r.spec.seed))
            red = any(w in r.spec.prompt for w in self.red_always) or (
                first and any(w in r.spec.prompt for w in self.red_once)
            )
            frame = Image.new("RGB", (32, 32), (220, 20, 20) if red else (20, 20, 220))
            count = r.spec.num_frames if r.spec.kind.is_video else 1
            out.append(Output(frames=[frame] * max(1, count), fps=r.spec.fps or 7, generator=self.name))
        return out


def is_red(png: bytes) -> bool:
    import io

    r, g, b = Image.open(io.BytesIO(png)).convert("RGB").resize((1, 1)).getpixel((0, 0))  # type: ignore[misc]
    return bool(r > 150 and g < 80 and b < 80)
