"""`soul bench safety` runs, and the held-out figures it prints meet the issue's targets (issue 22 §4)."""

from __future__ import annotations

import pytest

from infra.bench import safety
from shared.safety.rules import THRESHOLDS, RuleModerator

pytestmark = pytest.mark.unit


def test_thresholds_in_the_code_are_the_ones_chosen_on_tune() -> None:
    assert safety.tune(safety.load()) == THRESHOLDS


def test_held_out_rates_meet_the_targets() -> None:
    held = [r for r in safety.load() if r["split"] == "heldout"]
    moderator = RuleModerator()
    hit, unsafe, false, benign = safety.rates(held, lambda t: not moderator.moderate(t).allowed)
    assert hit / unsafe >= 0.95 and false / benign <= 0.02


def test_bench_prints_rates_and_latency(capsys: pytest.CaptureFixture[str]) -> None:
    assert safety.main(["--rounds", "1"]) == 0
    out = capsys.readouterr().out
    assert "heldout" in out and "PromptGate.check on SQLite" in out
