"""The seed alone decides a generator's output (docs/ARCHITECTURE.md, Seeds): with everything else equal,
the same seed gives the same output and another seed another. The preview card is checked byte for byte
(through the PNG encoder the worker uses); SDXL on a tiny random-weight pipeline (real diffusers code on
the CPU, so pixel for pixel)."""

from __future__ import annotations

import io

import numpy as np
import pytest

from gpu_jobs.generators.base import GenRequest, NullHooks
from gpu_jobs.generators.preview import PreviewGenerator
from gpu_jobs.generators.sdxl import SdxlGenerator
from shared.domain.models import GenerationSpec, Kind
from tests.tiny_models import tiny_sdxl

pytestmark = pytest.mark.unit


def spec(seed: int, **size: int) -> GenerationSpec:
    dims = {"width": 64, "height": 64, **size}
    return GenerationSpec(kind=Kind.IMAGE, soul_id="nova", prompt="a penguin", seed=seed, steps=3, **dims)


def png(generator: PreviewGenerator | SdxlGenerator, seed: int, **size: int) -> bytes:
    out = io.BytesIO()
    generator.generate([GenRequest(spec(seed, **size), NullHooks())])[0].frames[0].save(out, format="PNG")
    return out.getvalue()


def test_preview_output_is_a_function_of_the_seed() -> None:
    preview = PreviewGenerator()
    assert png(preview, 7, width=512, height=512) == png(preview, 7, width=512, height=512)
    assert png(preview, 8, width=512, height=512) != png(preview, 7, width=512, height=512)


def test_sdxl_output_is_a_function_of_the_seed() -> None:
    models = tiny_sdxl()
    sdxl = SdxlGenerator(models.single_file, config_dir=models.config_dir, device="cpu")
    sdxl.setup()
    first = np.asarray(sdxl.generate([GenRequest(spec(11), NullHooks())])[0].frames[0], dtype=np.int16)
    again = np.asarray(sdxl.generate([GenRequest(spec(11), NullHooks())])[0].frames[0], dtype=np.int16)
    other = np.asarray(sdxl.generate([GenRequest(spec(12), NullHooks())])[0].frames[0], dtype=np.int16)
    assert np.array_equal(first, again)
    assert np.abs(first - other).mean() > 5  # only the seed differs
