"""Media encoding: PNG (Pillow), MP4 H.264/yuv420p and GIF (ffmpeg from imageio-ffmpeg's wheel).

The GIF uses ffmpeg's two-pass palette (palettegen + paletteuse) in one filter graph: the best
quality per byte among the encoders measured (docs/ARCHITECTURE.md, Generators and media). Frames go in as raw RGB on
stdin, so no
temporary files are written.
"""

from __future__ import annotations

import io
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

from shared.errors import GenerationFailed


def encode_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _even(frames: Sequence[Image.Image]) -> list[np.ndarray]:
    """RGB arrays cropped to even sides (yuv420p needs them)."""
    width, height = frames[0].size
    w, h = width - width % 2, height - height % 2
    return [np.asarray(f.convert("RGB"))[:h, :w] for f in frames]


def _ffmpeg(args: list[str], stdin: bytes) -> bytes:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", *args]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False, timeout=600)  # noqa: S603
    if proc.returncode != 0:
        raise GenerationFailed(f"ffmpeg failed: {proc.stderr.decode(errors='replace')[-300:]}")
    return proc.stdout


def _raw_input(arrays: list[np.ndarray], fps: int) -> tuple[list[str], bytes]:
    h, w = arrays[0].shape[:2]
    args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", str(fps), "-i", "pipe:0"]
    return args, b"".join(a.tobytes() for a in arrays)


def encode_mp4(frames: Sequence[Image.Image], fps: int) -> bytes:
    """H.264 High, yuv420p, faststart: plays in every browser."""
    args, raw = _raw_input(_even(frames), fps)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.mp4"  # the moov atom rewrite of faststart needs a seekable file
        _ffmpeg(
            [
                *args,
                "-c:v",
                "libx264",
                "-pix_fmt",
                "yuv420p",
                "-preset",
                "veryfast",
                "-crf",
                "20",
                "-movflags",
                "+faststart",
                "-y",
                str(out),
            ],
            raw,
        )
        return out.read_bytes()


def encode_gif(frames: Sequence[Image.Image], fps: int, max_width: int = 512) -> bytes:
    """Two-pass palette GIF, scaled to at most `max_width` wide, looping forever.

    Ordered (Bayer, scale 5: the lightest pattern) dithering instead of paletteuse's default error
    diffusion: on both scenes of `gpu_jobs/bench/gif.py` it takes 0.36-0.60x the time, is 13-22% smaller and
    scores a higher SSIM than plain palettegen + paletteuse, and unlike no dithering (smaller still, but
    it bands gradients, which SSIM barely sees) it keeps skies smooth. No scale filter at all when the
    frames are already narrow enough.
    """
    arrays = _even(frames)
    args, raw = _raw_input(arrays, fps)
    scale = f"scale={max_width}:-2:flags=lanczos," if arrays[0].shape[1] > max_width else ""
    graph = f"[0:v]{scale}split[a][b];[a]palettegen[p];[b][p]paletteuse=dither=bayer:bayer_scale=5"
    return _ffmpeg([*args, "-filter_complex", graph, "-loop", "0", "-f", "gif", "pipe:1"], raw)


def decode_video(data: bytes) -> tuple[list[Image.Image], float]:
    """Frames and fps of an MP4 (e.g. the Wan provider's file) for GIF making."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as fh:
        fh.write(data)
        fh.flush()
        reader = imageio_ffmpeg.read_frames(fh.name)
        info = next(reader)
        w, h = info["size"]
        frames = [Image.frombytes("RGB", (w, h), bytes(chunk)) for chunk in reader]
    fps = float(info.get("fps") or 24.0)
    return frames, fps


def decode_png(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")
