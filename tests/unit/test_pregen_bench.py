"""`soul bench trace --pregen` on a tiny trace: it runs through the real service code, prints its table
and the one summary line scripts read, and pre-generation answers more requests at once than on-demand."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from infra.bench import pregen, trace

pytestmark = pytest.mark.unit
TINY = ["--sessions", "100", "--users", "40", "--intents", "10", "--bursts", "1", "--burst-sessions", "20"]
LINE = re.compile(
    r"^pre-generation: (\d+\.\d)% of requests answered without waiting \(on-demand (\d+\.\d)%\), "
    r"GPU runs (\d+\.\d\d)x on-demand, waste (\d+\.\d)%$"
)


def test_tiny_day_through_the_cli_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace.main(["--pregen", *TINY, "--data-dir", str(tmp_path)])
    lines = capsys.readouterr().out.strip().splitlines()
    match = LINE.match(lines[-1])
    assert match, lines[-1]
    with_pregen, on_demand, ratio, _ = (float(g) for g in match.groups())
    assert with_pregen > on_demand and ratio >= 1.0
    assert any(line.startswith("on-demand") for line in lines) and any("p95 wait" in line for line in lines)


def test_simulation_accounts_for_every_request_and_run(tmp_path: Path) -> None:
    args = pregen.parser().parse_args([*TINY, "--data-dir", str(tmp_path)])
    requests, base, pre = pregen.measure(args)
    assert base.requests == pre.requests == len(requests)
    for result in (base, pre):
        assert result.at_once + len(result.waits) == result.requests  # every miss waited for a job that ended
        assert all(w > 0 for w in result.waits)
    assert base.pregenerated == set() and pre.pregenerated and pre.budget_used == 2.0 * len(pre.pregenerated)
    keys = len({(r.soul, r.cue) for r in requests})
    assert pre.runs >= len(pre.pregenerated) + keys  # every key's first request ran on demand
