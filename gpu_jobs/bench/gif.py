"""GIF benchmark: Soul's `media.encode_gif` against plain ffmpeg `palettegen` + `paletteuse`, same run.

Both encoders get the same 25 raw RGB frames (1024×576) of two scenes — `clip`, a smooth moving scene
like a generated clip (gradient sky, moving disc, textured ground), and `pan`, a camera pan over a
colourful photo-like field (every pixel changes every frame) — through the same ffmpeg binary; the
report gives wall time (median of `reps`), bytes and SSIM of the
decoded GIF to the source frames (luma, 7×7 uniform windows, as scikit-image's default), each with the
Soul / ffmpeg ratio. Soul is measured at the source size (`max_width` = width, the like-for-like row)
and at its production size (scaled to 512 wide, SSIM against the sources scaled the same way).
Run: `python -m gpu_jobs.bench.gif [--smoke]`; prints one JSON line per measurement.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from typing import Any

import imageio_ffmpeg
import numpy as np
from PIL import Image, ImageSequence

from gpu_jobs import media
from gpu_jobs.bench.quality import ssim

Encoder = Callable[[Sequence[Image.Image], int], bytes]


def scene(frames: int, width: int, height: int) -> list[Image.Image]:
    """Gradient sky, a moving soft disc and a textured ground: the kind of content a clip has."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rng = np.random.default_rng(0)
    texture = rng.normal(0, 6, (height, width)).astype(np.float32)
    out = []
    for i in range(frames):
        t = i / max(1, frames - 1)
        sky = np.stack([90 + 80 * y / height, 140 + 60 * x / width, 230 - 40 * y / height], axis=-1)
        cx, cy = width * (0.2 + 0.6 * t), height * (0.4 + 0.1 * np.sin(6 * t))
        disc = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * (height / 10) ** 2))[..., None]
        img = sky * (1 - disc) + np.array([250, 200, 60]) * disc
        ground = (y > height * 0.75)[..., None]
        img = np.where(
            ground, np.array([70, 120, 50]) + texture[..., None] + 10 * np.sin(x / 9 + 12 * t)[..., None], img
        )
        out.append(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)))
    return out


def pan(frames: int, width: int, height: int) -> list[Image.Image]:
    """A camera pan across a smooth random colour field: busy content, every pixel moves."""
    rng = np.random.default_rng(1)
    field = rng.integers(0, 255, (max(2, height // 8), max(2, width // 4), 3), dtype=np.uint8)
    wide = Image.fromarray(field).resize((2 * width, height), Image.Resampling.BICUBIC)
    step = width // max(1, frames)
    return [wide.crop((i * step, 0, i * step + width, height)) for i in range(frames)]


def ffmpeg_palette_gif(frames: Sequence[Image.Image], fps: int) -> bytes:
    """The peer baseline: ffmpeg's documented two-pass palette, default options, source size."""
    w, h = frames[0].size
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt",
           "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0", "-filter_complex",
           "[0:v]split[a][b];[a]palettegen[p];[b][p]paletteuse", "-loop", "0", "-f", "gif", "pipe:1"]  # fmt: skip
    raw = b"".join(np.asarray(f.convert("RGB")).tobytes() for f in frames)
    return subprocess.run(cmd, input=raw, capture_output=True, check=True, timeout=600).stdout  # noqa: S603


def gif_frames(data: bytes) -> tuple[list[Image.Image], list[int]]:
    gif = Image.open(io.BytesIO(data))
    frames = [f.convert("RGB") for f in ImageSequence.Iterator(gif)]
    return frames, [int(f.info.get("duration", 0)) for f in ImageSequence.Iterator(Image.open(io.BytesIO(data)))]


def measure(name: str, encode: Encoder, frames: Sequence[Image.Image], fps: int, reps: int) -> dict[str, Any]:
    times, data = [], b""
    for _ in range(reps):
        start = time.perf_counter()
        data = encode(frames, fps)
        times.append(time.perf_counter() - start)
    decoded, _durations = gif_frames(data)
    size = decoded[0].size
    refs = [f if f.size == size else f.resize(size, Image.Resampling.LANCZOS) for f in frames]
    score = statistics.fmean(ssim(r, d) for r, d in zip(refs, decoded, strict=True))
    return {"what": name, "s": statistics.median(times), "bytes": len(data), "ssim": score, "frames": len(decoded),
            "size": f"{size[0]}x{size[1]}"}  # fmt: skip


def run(frames: int, width: int, height: int, fps: int, reps: int) -> list[dict[str, Any]]:
    rows = []
    for name, make in (("clip", scene), ("pan", pan)):
        source = make(frames, width, height)
        base = measure("gif_ffmpeg_palettegen_paletteuse", ffmpeg_palette_gif, source, fps, reps)
        full = measure("gif_soul_same_size", lambda f, r: media.encode_gif(f, r, max_width=width), source, fps, reps)
        prod = measure("gif_soul_production_512w", media.encode_gif, source, fps, reps)
        rows.append(base | {"scene": name})
        for row in (full, prod):
            row |= {"scene": name, "time_ratio_vs_ffmpeg": row["s"] / base["s"],
                    "bytes_ratio_vs_ffmpeg": row["bytes"] / base["bytes"],
                    "ssim_minus_ffmpeg": row["ssim"] - base["ssim"]}  # fmt: skip
            rows.append(row)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="4 tiny frames, one rep (for tests)")
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    shape = (4, 64, 36, 1) if args.smoke else (25, 1024, 576, args.reps)
    for row in run(shape[0], shape[1], shape[2], fps=7, reps=shape[3]):
        print(json.dumps(row), flush=True)  # a CLI report: JSON lines on stdout
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
