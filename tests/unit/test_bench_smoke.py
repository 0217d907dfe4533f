"""The benchmarks run end to end in their `--smoke` mode: tiny models on the CPU, tiny GIF frames.

This keeps the GPU benchmark runnable by the next session with a device (same code, full sizes) and
checks every report row carries the baseline beside Soul's figure.
"""

from __future__ import annotations

import json

import pytest

from gpu_jobs.bench import gif, gpu
from tests.tiny_models import tiny_sdxl

pytestmark = pytest.mark.unit


def rows(out: str) -> dict[str, dict[str, object]]:
    parsed = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {str(r["what"]): r for r in parsed}


def test_gpu_bench_smoke_prints_stock_and_soul_with_ratios(capsys: pytest.CaptureFixture[str]) -> None:
    tiny_sdxl()  # same process-wide torch settings as the other tiny-model tests
    assert gpu.main(["--smoke"]) == 0
    got = rows(capsys.readouterr().out)
    assert {"sdxl_stock_eager_b1_s_per_image", "sdxl_stock_eager_b2_s_per_image", "svd_stock_eager_s_per_clip"} <= set(
        got
    )
    soul = got["sdxl_soul_b1_s_per_image"]
    assert soul["ratio_stock_b1_over_soul"] and soul["psnr_db"] is not None
    assert soul["mean_abs_diff_255"] == 0.0  # CPU path = stock code path: same seed, same image
    assert got["svd_soul_s_per_clip"]["ratio_stock_over_soul"]


def test_gif_bench_smoke_compares_with_ffmpeg(capsys: pytest.CaptureFixture[str]) -> None:
    assert gif.main(["--smoke"]) == 0
    got = rows(capsys.readouterr().out)
    base, soul = got["gif_ffmpeg_palettegen_paletteuse"], got["gif_soul_same_size"]
    assert base["frames"] == soul["frames"] == 4 and base["size"] == soul["size"] == "64x36"
    assert 0.5 < float(base["ssim"]) <= 1.0 and {"time_ratio_vs_ffmpeg", "bytes_ratio_vs_ffmpeg"} <= set(soul)


def test_ssim_is_one_for_identical_frames_and_lower_for_noise() -> None:
    frames = gif.scene(2, 64, 36)
    assert gif.ssim(frames[0], frames[0]) == pytest.approx(1.0)
    assert gif.ssim(frames[0], frames[1]) < 0.999
