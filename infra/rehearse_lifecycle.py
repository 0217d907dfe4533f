"""How `soul rehearse` runs and stops: the first SIGINT or SIGTERM stops everything, and so does a second.

The first signal raises KeyboardInterrupt in the main thread, wherever it is (starting the emulators,
installing the functions venv, waiting): the stack's `stop` then runs to its end. A signal that
arrives while stopping (Ctrl-C twice, or a supervisor and a terminal both) never interrupts `stop`:
it only makes the rest of the shutdown kill without the grace period. After `stop`, every child
process still there (one started in the instant a signal interrupted `Popen` before it was recorded,
or launched by a request thread while the servers closed) is killed with its process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Protocol

GRACE_SECONDS = 5.0


class Stack(Protocol):
    stop_event: threading.Event

    def start(self) -> None: ...

    def stop(self, grace: Callable[[], float]) -> None: ...


class Signals:
    """The SIGINT / SIGTERM handler while the rehearsal runs."""

    def __init__(self) -> None:
        self.stopping = False
        self.hurried = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            self.hurried = True  # never raise inside the shutdown: it would leave processes behind
            return
        self.stopping = True
        raise KeyboardInterrupt

    def grace(self) -> float:
        return 0.0 if self.hurried else GRACE_SECONDS


def serve(stack: Stack, ready: Callable[[], None]) -> int:
    """Start the stack, call `ready`, wait for a signal; stop everything however it ends."""
    signals = Signals()
    previous = {sig: signal.signal(sig, signals) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stack.start()
        ready()
        stack.stop_event.wait()
    except KeyboardInterrupt:
        pass
    finally:
        signals.stopping = True
        print("soul rehearse: stopping (a second Ctrl-C skips the grace period)", flush=True)
        try:
            stack.stop(signals.grace)
        finally:
            kill_children(signals.grace)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 0


def children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def kill_children(grace: Callable[[], float], parent: int | None = None) -> None:
    """Kill every child of this process (its whole process group when it leads one), then reap it."""
    for pid in children(os.getpid() if parent is None else parent):
        kill_group(pid, grace())


def kill_group(pid: int, grace: float) -> None:
    """SIGTERM the process (its group when it leads one), SIGKILL after `grace` seconds, reap it."""
    leader = False
    with contextlib.suppress(OSError):
        leader = os.getpgid(pid) == pid
    kill: Callable[[int, int], None] = os.killpg if leader else os.kill
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _running(pid):
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _running(pid: int) -> bool:
    """Alive and not a zombie (a zombie child is reaped; one of another parent only disappears)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
