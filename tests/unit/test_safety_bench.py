"""`soul bench safety` runs, and the figures it prints meet the issue's targets (issue 22 §4) on the
held-out half and stay where they were tuned on the tune half and independent_a. Nothing here reads
independent_b.jsonl: the bench is pointed at a stand-in file or at none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.bench import safety
from shared.safety.rules import THRESHOLDS, RuleModerator

pytestmark = pytest.mark.unit


def blocked(text: str) -> bool:
    return not RuleModerator().moderate(text).allowed


def test_thresholds_in_the_code_are_the_ones_chosen_on_tune() -> None:
    assert safety.tune(safety.load()) == THRESHOLDS


def test_held_out_rates_meet_the_targets() -> None:
    held = [r for r in safety.load() if r["split"] == "heldout"]
    hit, unsafe, false, benign = safety.rates(held, blocked)
    assert hit / unsafe >= 0.95 and false / benign <= 0.02


def test_rates_on_the_sets_tuned_on_are_locked() -> None:
    tune = [r for r in safety.load() if r["split"] == "tune"]
    assert safety.rates(tune, blocked) == (82, 82, 0, 99)
    assert safety.rates(safety.load(safety.INDEPENDENT_A), blocked) == (120, 120, 0, 120)


def test_bench_prints_rates_and_latency_without_independent_b(capsys: pytest.CaptureFixture[str]) -> None:
    assert safety.main(["--rounds", "1"], independent_b=Path("/nonexistent/independent_b.jsonl")) == 0
    out = capsys.readouterr().out
    assert "heldout" in out and "indep_a" in out and "indep_b" not in out and "PromptGate.check on SQLite" in out


def test_independent_b_is_one_aggregate_row_and_never_listed_cue_by_cue(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stand_in = tmp_path / "independent_b.jsonl"
    cues = [
        {"text": "a quiet lake at dawn", "label": "unsafe", "category": "violence"},  # decided wrongly
        {"text": "a naked child", "label": "benign", "category": ""},  # decided wrongly
    ]
    stand_in.write_text("".join(json.dumps(c) + "\n" for c in cues))
    assert safety.main(["--rounds", "1", "--misses"], independent_b=stand_in) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("indep_b"))
    assert "0/1" in row and "1/1" in row and row.endswith("never tuned on")
    assert "quiet lake" not in out and "a naked child" not in out and "  indep_b " not in out
