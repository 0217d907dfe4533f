"""The SVD generator on a tiny random-weight pipeline (real diffusers code, CPU, offline).

The pipeline is saved with `save_pretrained` and loaded back from the folder as production does. The
clip is then encoded by the worker's media module: the MP4 must be H.264/yuv420p and the GIF must
have every frame at the clip's fps.
"""

from __future__ import annotations

import io
import subprocess

import imageio_ffmpeg
import pytest
import torch
from PIL import Image

from gpu_jobs import media
from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.svd import SvdGenerator
from gpu_jobs.torch_runtime import SpeedOptions
from shared.domain.models import GenerationSpec, Kind
from shared.errors import GenerationFailed, InvalidInput, JobCanceled
from tests.tiny_models import ScriptedHooks, tiny_svd

pytestmark = pytest.mark.unit

FRAMES = 3


def spec(seed: int, steps: int = 2) -> GenerationSpec:
    return GenerationSpec(kind=Kind.SVD, soul_id="penguin", prompt="a penguin", seed=seed, width=32, height=32,
                          steps=steps, num_frames=FRAMES, fps=7)  # fmt: skip


def source(color: tuple[int, int, int] = (200, 40, 40)) -> Image.Image:
    return Image.new("RGB", (48, 40), color)


@pytest.fixture(scope="module")
def generator() -> SvdGenerator:
    gen = SvdGenerator(tiny_svd(), device="cpu", num_frames=FRAMES, fps=7, decode_chunk_size=2)
    gen.setup()
    return gen


def test_clip_has_the_configured_frames_and_encodes_for_browsers(generator: SvdGenerator) -> None:
    hooks = ScriptedHooks()
    [out] = generator.generate([GenRequest(spec(1), hooks, source())])
    assert len(out.frames) == FRAMES and out.frames[0].size == (32, 32) and out.fps == 7
    assert hooks.steps == [(1, 2), (2, 2)]
    mp4 = media.encode_mp4(out.frames, out.fps)
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", "pipe:0"], input=mp4,
                           capture_output=True, check=False).stderr.decode()  # fmt: skip
    assert "Video: h264" in probe and "yuv420p" in probe
    gif = Image.open(io.BytesIO(media.encode_gif(out.frames, out.fps)))
    assert gif.n_frames == FRAMES
    assert gif.info["duration"] in (140, 150)  # 1000/7 ms in GIF's 10 ms ticks


def test_same_seed_same_clip_and_timings_answer_the_estimate(generator: SvdGenerator) -> None:
    a, b = (generator.generate([GenRequest(spec(3), NullHooks(), source())])[0] for _ in range(2))
    assert [f.tobytes() for f in a.frames] == [f.tobytes() for f in b.frames]
    timing = generator.timing()
    assert timing is not None and timing.model == "svd" and timing.seconds_per_step > 0
    short, long = generator.estimate_seconds(FRAMES, steps=2), generator.estimate_seconds(25, steps=25)
    assert short is not None and long is not None and long > short > 0


def test_cancel_mid_run(generator: SvdGenerator) -> None:
    hooks = ScriptedHooks(cancel_at_step=1)
    with pytest.raises(JobCanceled):
        generator.generate([GenRequest(spec(4, steps=3), hooks, source())])
    assert hooks.steps == [(1, 3)]


def test_partly_canceled_batch_skips_the_canceled_clip(generator: SvdGenerator) -> None:
    canceled = ScriptedHooks(cancel_at_step=0)
    outputs = generator.generate([GenRequest(spec(5), canceled, source()), GenRequest(spec(6), NullHooks(), source())])
    assert [len(o.frames) for o in outputs] == [0, FRAMES] and canceled.steps == []


def test_injected_oom_is_a_permanent_failure_with_a_reason() -> None:
    def oom(_batch: int) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory (injected)")

    gen = SvdGenerator(tiny_svd(), device="cpu", num_frames=FRAMES, fault_hook=oom)
    gen.setup()
    with pytest.raises(GenerationFailed) as err:
        gen.generate([GenRequest(spec(7), NullHooks(), source())])
    assert err.value.code == "out_of_memory" and "32x32" in err.value.message


def test_needs_a_source_image(generator: SvdGenerator) -> None:
    with pytest.raises(InvalidInput):
        generator.generate([GenRequest(spec(8), NullHooks(), None)])


def test_cfg_cutoff_runs_the_conditional_half_after_the_cutoff() -> None:
    gen = SvdGenerator(tiny_svd(), device="cpu", num_frames=FRAMES, speed=SpeedOptions(cfg_cutoff=0.5))
    gen.setup()
    batches: list[int] = []
    gen._pipe.unet.register_forward_pre_hook(lambda _m, args: batches.append(int(args[0].shape[0])))
    [cut] = gen.generate([GenRequest(spec(9, steps=4), NullHooks(), source())])
    assert batches == [2, 2, 1, 1]  # CFG for ceil(4 x 0.5) steps, then the conditional half only
    assert len(cut.frames) == FRAMES and not gen._cfg.active  # switched off again after the run
