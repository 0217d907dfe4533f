"""The preview generator runs the spec's real steps (progress 0..N, never "1/1") and stops between
them when canceled."""

from __future__ import annotations

import pytest

from gpu_jobs.generators.base import GenRequest
from gpu_jobs.generators.preview import PreviewGenerator, _card
from shared.domain.models import GenerationSpec, Kind
from shared.errors import JobCanceled
from tests.tiny_models import ScriptedHooks


def spec(steps: int) -> GenerationSpec:
    return GenerationSpec(kind=Kind.IMAGE, soul_id="nova", prompt="a fox", seed=7, steps=steps, width=256, height=256)


def test_every_step_is_reported_and_the_card_is_complete() -> None:
    hooks = ScriptedHooks()
    [out] = PreviewGenerator().generate([GenRequest(spec=spec(12), hooks=hooks)])
    assert hooks.steps == [(i, 12) for i in range(13)]
    assert out.frames[0].tobytes() == _card(spec(12)).tobytes()  # every band was laid down


def test_cancel_stops_between_steps() -> None:
    hooks = ScriptedHooks(cancel_at_step=5)
    with pytest.raises(JobCanceled):
        PreviewGenerator().generate([GenRequest(spec=spec(30), hooks=hooks)])
    assert hooks.steps[-1] == (5, 30)
