"""The `soul` command speaks CLI: every option has help, `soul bench` has no stray argument and the
requests benchmark's --help is whole, `soul souls` / `soul places` list what exists, an unknown soul points at
`soul souls`, and `soul generate` says which user it acts for when --user is not given."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from infra import cli
from infra.bench import requests
from shared.config import get_settings

pytestmark = pytest.mark.integration


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["dev", "generate", "souls", "places", "bench", "semantic"])
def test_every_option_has_help(command: str) -> None:
    for action in subparsers()[command]._actions:
        assert action.help, f"soul {command}: {action.option_strings or action.dest} has no help"


def test_bench_help_is_whole(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    assert "rest" not in capsys.readouterr().out
    with pytest.raises(SystemExit):
        requests.main(["--help"])
    out = capsys.readouterr().out
    assert "beside the bare backend operations a hit needs" in out  # the first line alone stops before it


def test_souls_places_and_cli_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SOUL_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert cli.main(["souls"]) == 0
        souls = capsys.readouterr().out
        assert "nova     Nova       1024x1024, 30 steps" in souls and "prompt: {cue}, Nova" in souls
        assert cli.main(["places"]) == 0
        assert "paris" in capsys.readouterr().out
        assert cli.main(["generate", "--soul", "nobody", "--cue", "a fox"]) == 2
        out = capsys.readouterr().out
        assert "as user cli-user (--user NAME to choose" in out
        assert "unknown soul 'nobody'; `soul souls` lists them (not_found)" in out and "GET /" not in out
        assert cli.main(["generate", "--soul", "nova", "--cue", "a fox", "--user", "ann"]) == 0
        out = capsys.readouterr().out
        assert "as user" not in out and "generated variant" in out
    finally:
        get_settings.cache_clear()
