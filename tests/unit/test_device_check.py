"""The one-shot device check (`gpu_jobs/bench/device_check.sh`, issue 25 item 4) without a GPU: its plan
(`--dry-run`) fits one `run` call of 590 s in an order that cannot lose the headline, and `--smoke` runs
every step on tiny CPU models, writing each step's stdout and stderr apart and flushing JSON rows."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).parents[2]
SCRIPT = ROOT / "gpu_jobs" / "bench" / "device_check.sh"
RUN_LIMIT_S = 590  # one `run` call, leaving the tool's 600 s ceiling a margin


def check(tmp_path: Path, *args: str, timeout: float = 30, **env: str) -> list[dict[str, Any]]:
    subprocess.run(["bash", str(SCRIPT), *args], env={**os.environ, "OUT": str(tmp_path), **env}, cwd=ROOT,
                   capture_output=True, text=True, check=True, timeout=timeout)  # fmt: skip
    return [json.loads(line) for line in (tmp_path / "summary.jsonl").read_text().splitlines()]


def test_dry_run_plans_the_headline_first_within_one_call(tmp_path: Path) -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    steps = [s for s in check(tmp_path, "--dry-run") if s["what"] == "step"]
    assert [s["step"] for s in steps] == ["install", "sdxl", "svd", "gpu_tests"]
    assert sum(s["timeout_s"] + s["kill_after_s"] for s in steps) <= RUN_LIMIT_S
    sdxl, svd, tests = (s["cmd"] for s in steps[1:])
    # SDXL batch 4: the eager rows first, the one static compile last; SVD eager with one rep.
    assert "--batches 4" in sdxl and sdxl.endswith("--rows stock,soul,soul_cfg,soul_cache,soul_compile")
    assert "--reps 1" in svd and "compile" not in svd.split("--rows")[1]
    assert "-m gpu tests/gpu" in tests and "--noconftest" in tests and "not compiled" in tests


@pytest.mark.slow
def test_smoke_runs_every_step_with_stdout_and_stderr_apart(tmp_path: Path) -> None:
    """Four processes that each import torch: ~30 s on a busy 2-core box (slow)."""
    env = {"PYTHON": str(ROOT / ".venv" / "bin" / "python"), "SDXL_ROWS": "soul,soul_compile",
           "SVD_ROWS": "stock"}  # fmt: skip
    summary = check(tmp_path, "--smoke", timeout=240, **env)
    done = {s["step"]: s for s in summary if s["what"] == "step_done"}
    assert list(done) == ["install", "sdxl", "svd", "gpu_tests"]
    assert all(s["rc"] == 0 for s in list(done.values())[:3]), done
    assert done["gpu_tests"]["rc"] in (0, 5)  # no CUDA here: every gpu test is skipped or deselected
    versions = next(s for s in summary if s["what"] == "versions")
    assert versions["torch"] and versions["diffusers"]
    rows = {json.loads(line)["what"] for line in (tmp_path / "sdxl.out").read_text().splitlines()}
    assert {"env", "sdxl_stock_b1", "sdxl_soul_b2", "sdxl_soul_compile"} <= rows
    assert "svd_stock" in (tmp_path / "svd.out").read_text()
    for name in ("install", "sdxl", "svd", "gpu_tests"):
        assert (tmp_path / f"{name}.out").exists() and (tmp_path / f"{name}.err").exists()
