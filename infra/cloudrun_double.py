"""A local Cloud Run Admin API (v2) for jobs: the REST surface the real `google-cloud-run` JobsClient
calls (`transport="rest"`, `client_options.api_endpoint`, anonymous credentials), for the rehearsal.

- `POST /v2/projects/{p}/locations/{l}/jobs/{job}:run` starts an execution: each task is an OS
  process running the job's container command and args with the job's env, with RunJobRequest
  overrides applied as Cloud Run applies them: a container override's `args` *replace* the
  container's args (`clearArgs` empties them), its `env` entries are merged over the job's by name,
  `taskCount` replaces the job's task count. It answers a long-running Operation whose metadata is
  the Execution; `GET .../operations/{id}` reports it done when every task has exited.
- `GET .../jobs/{job}/executions` lists the executions (newest first), with their running,
  succeeded and failed task counts.
- Errors are the real API's: an unknown job is 404 NOT_FOUND, a malformed request (unknown field,
  wrong type, a negative task count, an override naming another container) 400 INVALID_ARGUMENT, in
  Google's JSON error shape, so the client raises the same `google.api_core` exceptions.
- IAM: with `allowed` (principal, permission, resource) the double checks each call's permission
  before anything else, like the real API: run.jobs.run (runWithOverrides with overrides) and
  run.executions.list on the job, run.operations.get on the job the operation started (or the
  project). No caller is 401 UNAUTHENTICATED, a caller without it 403 PERMISSION_DENIED, unknown jobs
  included ("or it may not exist"). The caller is named in the endpoint's path, `/as/<email>/v2/...`:
  the stand-in for the access token the runtime's service account gets from the metadata server.
  Every distinct checked call is kept in `calls` and, with `access_log`, written as a JSON line.
- Lag: an execution whose tasks have all exited is still reported running (and its operation not
  done) for `lag` seconds of the injected `clock` after the double first sees every task exited, as
  the real API reports completion late.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

EXECUTION_TYPE = "type.googleapis.com/google.cloud.run.v2.Execution"
MAX_TASKS = 10_000
_RUN = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/jobs/([^/:]+):run$")
_OPERATION = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/operations/([^/]+)$")
_EXECUTIONS = re.compile(r"^/v2/projects/([^/]+)/locations/([^/]+)/jobs/([^/]+)/executions$")
_AS = re.compile(r"^/as/([^/]+)(/v2/.*)$")
_FIELDS = {
    "request": {"overrides", "validateOnly", "etag"},
    "overrides": {"containerOverrides", "taskCount", "timeout"},
    "container": {"name", "args", "env", "clearArgs"},
    "env": {"name", "value"},
}

Spawn = Callable[[list[str], dict[str, str], str], subprocess.Popen[bytes]]
Clock = Callable[[], float]
Call = tuple[str, str, str]  # (principal, permission, resource: "job/<name>" or "project")


class ApiError(Exception):
    def __init__(self, code: int, status: str, message: str) -> None:
        super().__init__(message)
        self.code, self.status, self.message = code, status, message

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "status": self.status}}


def _invalid(message: str) -> ApiError:
    return ApiError(400, "INVALID_ARGUMENT", message)


@dataclass
class JobSpec:
    """One Cloud Run job as Terraform declares it: its single container's command, args and env."""

    command: list[str]
    args: list[str]
    env: dict[str, str]
    task_count: int = 1


@dataclass
class Execution:
    name: str
    job: str
    argv: list[str]
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]]
    created: float = field(default_factory=time.time)
    completed: float | None = None  # when the double first saw every task exited

    def counts(self, now: float, lag: float) -> tuple[int, int, int]:
        """(running, succeeded, failed) as reported at `now`: all running until `lag` after the end."""
        codes = [p.poll() for p in self.procs]
        running = sum(c is None for c in codes)
        if not running and self.completed is None:
            self.completed = now
        if running or (self.completed is not None and now - self.completed < lag):
            return len(self.procs), 0, 0
        return 0, sum(c == 0 for c in codes), sum(c not in (None, 0) for c in codes)

    def resource(self, now: float, lag: float = 0.0) -> dict[str, Any]:
        running, succeeded, failed = self.counts(now, lag)
        out = {"@type": EXECUTION_TYPE, "name": self.name, "job": self.job, "taskCount": len(self.procs)}
        out["template"] = {"containers": [{"command": self.argv[:1], "args": self.argv[1:]}]}
        out["startTime"] = _ts(self.created)
        out.update(runningCount=running, succeededCount=succeeded, failedCount=failed, createTime=_ts(self.created))
        if not running and self.completed is not None:
            out["completionTime"] = _ts(self.completed)
        return out


def _ts(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"Invalid value at '{what}': expected a list of strings")
    return value


def _known(body: Any, kind: str, where: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _invalid(f"Invalid JSON payload received. '{where}' is not an object")
    unknown = set(body) - _FIELDS[kind]
    if unknown:
        raise _invalid(f"Invalid JSON payload received. Unknown name \"{sorted(unknown)[0]}\" at '{where}'")
    return body


def apply_overrides(job: JobSpec, body: dict[str, Any]) -> tuple[list[str], dict[str, str], int]:
    """(args, env, task count) of an execution of `job` for a RunJobRequest JSON body, or ApiError."""
    overrides = _known(_known(body, "request", "request").get("overrides") or {}, "overrides", "overrides")
    args, env, tasks = list(job.args), dict(job.env), job.task_count
    containers = overrides.get("containerOverrides") or []
    if not isinstance(containers, list) or len(containers) > 1:
        raise _invalid("overrides.container_overrides: the job has one container")
    for i, raw in enumerate(containers):
        container = _known(raw, "container", f"overrides.container_overrides[{i}]")
        if container.get("name", "") not in ("", "container-0"):
            raise _invalid(f"overrides.container_overrides[{i}].name: no container named {container['name']!r}")
        if container.get("clearArgs"):
            args = []
        elif container.get("args"):
            args = list(_strings(container["args"], f"overrides.container_overrides[{i}].args"))
        for raw_env in container.get("env") or []:
            item = _known(raw_env, "env", f"overrides.container_overrides[{i}].env")
            if not isinstance(item.get("name"), str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", item["name"]):
                raise _invalid(f"overrides.container_overrides[{i}].env: invalid name {item.get('name')!r}")
            env[item["name"]] = str(item.get("value", ""))
    if "taskCount" in overrides:
        count = overrides["taskCount"]
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_TASKS:
            raise _invalid(f"overrides.task_count must be 0..{MAX_TASKS}, got {count!r}")
        tasks = count or tasks  # 0 is proto3's "unset": the job's own count
    if "timeout" in overrides and not re.fullmatch(r"\d+(\.\d+)?s", str(overrides["timeout"])):
        raise _invalid(f"overrides.timeout: invalid duration {overrides['timeout']!r}")
    return args, env, tasks


class CloudRunDouble:
    """The jobs of one project and region; executions are processes made by `spawn(argv, env, log)`.

    `allowed`: the (principal, permission, resource) Terraform grants; None lets every caller in
    (the override checks). `lag`: seconds a finished execution is still reported running."""

    def __init__(
        self,
        project: str,
        region: str,
        jobs: dict[str, JobSpec],
        spawn: Spawn,
        *,
        allowed: set[Call] | None = None,
        lag: float = 0.0,
        clock: Clock = time.time,
        access_log: Path | None = None,
    ) -> None:
        self.project, self.region, self.jobs, self.spawn = project, region, jobs, spawn
        self.allowed, self.lag, self.clock, self.access_log = allowed, lag, clock, access_log
        self.executions: list[Execution] = []
        self.operations: dict[str, Execution] = {}
        self.calls: set[Call] = set()  # each distinct call once, as shared/adapters/access_log.py
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"

    def check(self, caller: str | None, permission: str, job: str) -> None:
        """The real API's IAM check, before the resource is looked up: 401 without a caller, 403 when
        no grant on the job or the project holds `permission`."""
        if self.allowed is None:
            return
        if not caller:
            raise ApiError(401, "UNAUTHENTICATED", "Request is missing required authentication credential.")
        call = (caller, permission, f"job/{job}")
        self._record(call)
        if not {call, (caller, permission, "project")} & self.allowed:
            resource = f"{self.parent}/jobs/{job}"
            message = f"Permission '{permission}' denied on resource '{resource}' (or it may not exist)."
            raise ApiError(403, "PERMISSION_DENIED", message)

    def _record(self, call: Call) -> None:
        with self._lock:
            if call in self.calls:
                return
            self.calls.add(call)
            if self.access_log is not None:
                caller, permission, resource = call
                line = {"principal": caller, "api": "run", "op": permission, "resource": resource}
                with self.access_log.open("a") as out:
                    out.write(json.dumps(line) + "\n")

    def run(
        self, project: str, region: str, job: str, body: dict[str, Any], caller: str | None = None
    ) -> dict[str, Any]:
        self.check(caller, "run.jobs.runWithOverrides" if body.get("overrides") else "run.jobs.run", job)
        if (project, region) != (self.project, self.region) or job not in self.jobs:
            raise ApiError(404, "NOT_FOUND", f"Resource 'projects/{project}/locations/{region}/jobs/{job}' not found.")
        args, env, tasks = apply_overrides(self.jobs[job], body)
        argv = [*self.jobs[job].command, *args]
        with self._lock:
            name = f"{self.parent}/jobs/{job}/executions/{job}-{uuid.uuid4().hex[:5]}"
            procs = []
            if not body.get("validateOnly"):
                for index in range(tasks):
                    task_env = dict(env, CLOUD_RUN_JOB=job, CLOUD_RUN_EXECUTION=name.rsplit("/", 1)[1])
                    task_env.update(CLOUD_RUN_TASK_INDEX=str(index), CLOUD_RUN_TASK_COUNT=str(tasks))
                    procs.append(self.spawn(argv, task_env, f"{name.rsplit('/', 1)[1]}-{index}"))
            execution = Execution(name, job, argv, env, procs, created=self.clock())
            self.executions.append(execution)
            op = f"{self.parent}/operations/{uuid.uuid4()}"
            self.operations[op] = execution
        return self._operation(op, execution)

    def _operation(self, op: str, execution: Execution) -> dict[str, Any]:
        resource = execution.resource(self.clock(), self.lag)
        done = resource["runningCount"] == 0
        return {"name": op, "metadata": resource, "done": done, **({"response": resource} if done else {})}

    def operation(self, path: str, caller: str | None = None) -> dict[str, Any]:
        execution = self.operations.get(path)
        # An unknown operation has no job: only a project-level grant could cover it.
        self.check(caller, "run.operations.get", execution.job if execution else "")
        if execution is None:
            raise ApiError(404, "NOT_FOUND", f"Operation '{path}' not found.")
        return self._operation(path, execution)

    def list_executions(self, job: str, caller: str | None = None) -> dict[str, Any]:
        self.check(caller, "run.executions.list", job)
        if job not in self.jobs:
            raise ApiError(404, "NOT_FOUND", f"Resource '{self.parent}/jobs/{job}' not found.")
        now = self.clock()
        found = [e.resource(now, self.lag) for e in reversed(self.executions) if e.job == job]
        return {"executions": [{k: v for k, v in e.items() if k != "@type"} for e in found]}

    def endpoint(self, principal: str) -> str:
        """The API endpoint a process running as `principal` (a service account email) is given."""
        assert self._server is not None, "serve() first"
        return f"{self.url}/as/{principal}"

    # ---- HTTP ----------------------------------------------------------------------------------

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        threading.Thread(target=self._server.serve_forever, daemon=True, name="cloudrun-double").start()
        self.url = f"http://{host}:{self._server.server_address[1]}"
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def _handler(double: CloudRunDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _answer(self, fn: Callable[[], dict[str, Any]]) -> None:
            try:
                self._reply(200, fn())
            except ApiError as exc:
                self._reply(exc.code, exc.body())

        def _route(self) -> tuple[str | None, str]:
            """(caller, API path) of the request: `/as/<email>/v2/...` names the caller."""
            path = self.path.split("?", 1)[0]
            match = _AS.match(path)
            return (match.group(1), match.group(2)) if match else (None, path)

        def do_POST(self) -> None:
            caller, path = self._route()
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            match = _RUN.match(path)
            if not match:
                self._reply(404, ApiError(404, "NOT_FOUND", f"no method {path}").body())
                return
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self._reply(400, _invalid("Invalid JSON payload received.").body())
                return
            project, region, job = match.groups()
            self._answer(lambda: double.run(project, region, job, body, caller))

        def do_GET(self) -> None:
            caller, path = self._route()
            if _OPERATION.match(path):
                self._answer(lambda: double.operation(path.removeprefix("/v2/"), caller))
            elif match := _EXECUTIONS.match(path):
                self._answer(lambda: double.list_executions(match.group(3), caller))
            else:
                self._reply(404, ApiError(404, "NOT_FOUND", f"no method {path}").body())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
