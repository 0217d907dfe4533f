"""`soul rehearse` stops everything on the first signal, and a second one during the shutdown only
hurries it (infra/rehearse_lifecycle.py). A fake stack raises the signals at the exact points that
matter (signal.raise_signal runs the handler before it returns), so nothing here depends on timing;
the real rehearsal gets both signals in tests/e2e/test_rehearsal.py."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from infra.rehearse_lifecycle import GRACE_SECONDS, serve


class SignalingEvent(threading.Event):
    """The wait for Ctrl-C: the signal arrives while it waits."""

    def wait(self, timeout: float | None = None) -> bool:
        signal.raise_signal(signal.SIGINT)
        raise AssertionError("the first signal must interrupt the wait")


class FakeStack:
    def __init__(self, *, signal_in_start: bool = False, fail_start: bool = False) -> None:
        self.stop_event: threading.Event = SignalingEvent()
        self.signal_in_start, self.fail_start = signal_in_start, fail_start
        self.done: list[str] = []
        self.graces: list[float] = []

    def start(self) -> None:
        self.done.append("start")
        if self.fail_start:
            raise RuntimeError("seed step failed")
        if self.signal_in_start:
            signal.raise_signal(signal.SIGTERM)  # e.g. while pip installs the functions venv
            self.done.append("started anyway")

    def stop(self, grace: Callable[[], float]) -> None:
        self.graces.append(grace())
        signal.raise_signal(signal.SIGTERM)  # the second signal: Ctrl-C twice, or a supervisor too
        signal.raise_signal(signal.SIGINT)
        self.graces.append(grace())
        self.done.append("stopped everything")


@pytest.fixture(autouse=True)
def handlers_restored() -> Iterator[None]:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    yield None
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_signal_while_waiting_stops_everything_and_a_second_one_only_skips_the_grace() -> None:
    stack, ready = FakeStack(), []
    assert serve(stack, lambda: ready.append(True)) == 0
    assert ready == [True]
    assert stack.done == ["start", "stopped everything"]
    assert stack.graces == [GRACE_SECONDS, 0.0]


def test_a_signal_during_start_stops_what_was_started() -> None:
    stack = FakeStack(signal_in_start=True)
    assert serve(stack, lambda: pytest.fail("not ready: it was interrupted")) == 0
    assert stack.done == ["start", "stopped everything"]


def test_a_failed_start_still_stops_everything_and_a_signal_then_does_not_interrupt_the_stop() -> None:
    stack = FakeStack(fail_start=True)
    with pytest.raises(RuntimeError, match="seed step failed"):
        serve(stack, lambda: None)
    assert stack.done == ["start", "stopped everything"]
    assert stack.graces == [GRACE_SECONDS, 0.0]


CHILD = """
import subprocess, sys
from infra.rehearse_lifecycle import kill_children
code = "import subprocess, time; p = subprocess.Popen(['sleep', '300']); print(p.pid, flush=True); time.sleep(300)"
child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True)
grandchild = int(child.stdout.readline())
kill_children(lambda: 5.0)  # the child was never recorded anywhere: found as this process's child
print(child.pid, grandchild)
"""


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_children_nobody_recorded_are_killed_with_their_process_group() -> None:
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=True)
    pids = [int(x) for x in out.stdout.split()]
    assert len(pids) == 2 and all(_gone(pid) for pid in pids), (pids, out.stderr)
