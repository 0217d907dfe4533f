"""`soul rehearse`: the production topology of terraform/envs/dev, run on this machine, each deployable
its own OS process with the entry point, env and args Terraform gives it (docs/ARCHITECTURE.md,
"The rehearsal").

- Firestore, Pub/Sub: the official emulators; Cloud Storage: fake-gcs-server (infra/emulators.py).
- Pub/Sub topology exactly as terraform/modules/pubsub declares it (topic, per-lane filtered
  subscriptions with their ack deadline and dead-letter policy, dead-letter topic + subscription).
- `api` and `dispatch`: the functions source package the deploy uploads, in its own venv, served by
  `functions-framework` (infra/rehearse_functions.py).
- Eventarc: a push subscription on the jobs topic delivers to a relay that re-sends each push as the
  Eventarc CloudEvent (binary mode, `google.cloud.pubsub.topic.v1.messagePublished`) to `dispatch`
  with the trigger account's ID token (the rehearsal's issuer), retries 429/5xx with backoff, and
  answers the emulator with the function's last status (a raise = a nack = a redelivery).
- Cloud Run: infra/cloudrun_double.py; the dispatcher reaches it through CLOUD_RUN_API_ENDPOINT with
  the real client; executions run the jobs' container command (`soul ...`) as processes. The double
  checks each caller's Cloud Run permissions against Terraform's grants (the caller's account is in
  its endpoint's path) and reports finished executions as running for LAG_SECONDS.
- Cloud Scheduler: the reconcile job is run every period the scheduler resource declares.
- The `seed` step of cloudbuild.yaml runs before the api starts.

What the rehearsal adds to Terraform's env is in `REHEARSAL_ENV`, each with its reason; nothing
else differs. Ctrl-C or SIGTERM stops every process it started; so does a second one that arrives
while it stops (infra/rehearse_lifecycle.py). Relative --state / --cache are resolved at start.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from infra import emulators
from infra.cloudrun_double import CloudRunDouble, JobSpec
from infra.google_safety_double import REHEARSAL_WORDS, FakeGoogleSafety
from infra.rehearse_functions import FunctionsPackage, prepare
from infra.rehearse_lifecycle import GRACE_SECONDS, kill_group, serve
from infra.rehearse_pubsub import EventarcRelay, create_topology
from infra.rehearse_terraform import ROOT, Deploy, run_permissions

PROJECT = emulators.DEFAULT_PROJECT
KID = "rehearsal"
LAG_SECONDS = 3.0  # the real API reports an execution's end some seconds after its tasks exit
DROPPED = {"SDXL_MODEL_PATH"}  # REHEARSAL_ENV["jobs"]
REPLACED = {"SOUL_TRACE_EXPORTER": "log", "SOUL_METRICS_EXPORTER": "prometheus"}  # REHEARSAL_ENV["traces"], ["metrics"]
# Whoever applied Terraform (an Owner) watching the executions; no deployable runs as it.
OPERATOR = "operator@rehearsal.invalid"
# Added to Terraform's env, per deployable kind, and why.
REHEARSAL_ENV = {
    "all": "FIRESTORE_/PUBSUB_/STORAGE_EMULATOR_HOST: the clients talk to the local servers",
    "all ": "SOUL_ACCESS_LOG: each process records the Google APIs it calls (the IAM check)",
    "all  ": "SOUL_LANGUAGE_ENDPOINT / SOUL_VISION_ENDPOINT: the Natural Language and Vision double",
    "traces": "SOUL_TRACE_EXPORTER=log instead of Terraform's cloud_trace: each process writes its spans to its"
    " log (the trace test reads them there); no Cloud Trace API here (its exporter: tests/unit/test_tracing_export.py)",
    "metrics": "SOUL_METRICS_EXPORTER=prometheus instead of Terraform's cloud_monitoring: no Cloud Monitoring API"
    " here; each process keeps its figures (the exporter writes to a fake client in tests/unit/test_metrics_export.py)",
    "api": "SOUL_JWKS_FILE: ID tokens are verified against the rehearsal's key, not Firebase's",
    "dispatch": "CLOUD_RUN_API_ENDPOINT: the Cloud Run Admin API double, its path naming the process's"
    " service account (the reconcile job's too: it relaunches)",
    "jobs": "/models (the models bucket's mount) is an empty folder under --state, as an empty bucket mounts;"
    " SDXL_MODEL_PATH alone is dropped: the scenario needs one made image (the preview generator's)",
}


def _free_port() -> int:
    return emulators.free_port()


class Rehearsal:
    def __init__(self, state: Path, port: int, cache: Path) -> None:
        self.state, self.port, self.cache = state, port, cache
        self.logs = state / "logs"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.emus: emulators.Emulators | None = None
        self.double: CloudRunDouble | None = None
        self.relay: EventarcRelay | None = None
        self.safety = FakeGoogleSafety(REHEARSAL_WORDS)  # content safety's Google APIs (started in start())
        self.stop_event = threading.Event()
        self.deploy = Deploy.load(project_id=PROJECT)

    # ---- processes -----------------------------------------------------------------------------

    def base_env(self, name: str) -> dict[str, str]:
        assert self.emus is not None
        keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR", "PIP_CONFIG_FILE"}}
        env = {**keep, **self.emus.env(), "PYTHONUNBUFFERED": "1"}
        env["SOUL_ACCESS_LOG"] = str(self.logs / f"access-{name}.jsonl")
        env["SOUL_LANGUAGE_ENDPOINT"] = env["SOUL_VISION_ENDPOINT"] = self.safety.url
        return env

    def spawn(self, argv: list[str], env: dict[str, str], name: str, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def _models(self, value: str) -> str:
        """A path in the models mount, in the rehearsal's empty stand-in for it (SVD: model_unavailable)."""
        if not value.startswith("/models/"):
            return value
        (self.state / "models").mkdir(exist_ok=True)
        return str(self.state / "models" / value.removeprefix("/models/"))

    def spawn_task(self, argv: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
        """A Cloud Run task: the image's `soul` entry point is this checkout's."""
        command = [str(Path(sys.executable).parent / argv[0]), *argv[1:]]
        job = env["CLOUD_RUN_JOB"]
        full = {**self.base_env(job), **{k: self._models(v) for k, v in env.items() if k not in DROPPED}, **REPLACED}
        if "CLOUD_RUN_JOB_GPU" in full and self.double:  # a job that launches workers (reconcile): the double
            full["CLOUD_RUN_API_ENDPOINT"] = self.double.endpoint(self.deploy.jobs()[job]["service_account"])
        return self.spawn(command, full, name)

    # ---- the pieces ----------------------------------------------------------------------------

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for old in self.logs.glob("access-*.jsonl"):
            old.unlink()
        self.emus = emulators.start(PROJECT, self.logs)
        self.safety.__enter__()
        os.environ.update(self.emus.env())
        create_topology(PROJECT, self.deploy.pubsub())
        self._bucket()
        jwks = self._issuer()
        package = prepare(self.state, self.cache, self.logs / "pip.log")
        self._cloud_run()
        functions = self.deploy.functions()
        dispatch_port = _free_port()
        assert self.double is not None
        extra = {"CLOUD_RUN_API_ENDPOINT": self.double.endpoint(functions["dispatch"]["service_account"])}
        dispatch = self._function(package, functions["dispatch"], "dispatch", dispatch_port, extra)
        api = self._function(package, functions["api"], "api", self.port, {"SOUL_JWKS_FILE": str(jwks)})
        self._seed()  # as in cloudbuild.yaml: after the deploy, before the first user
        _wait_http(f"http://127.0.0.1:{self.port}/healthz", api, self.logs / "api.log")
        _wait_http(f"http://127.0.0.1:{dispatch_port}/", dispatch, self.logs / "dispatch.log", any_status=True)
        pushes_as = functions["dispatch"]["service_account"]  # the trigger's service_account_email
        target = f"http://127.0.0.1:{dispatch_port}/"
        self.relay = EventarcRelay(
            PROJECT, self.deploy.pubsub()["topic"], target, lambda aud: self._oidc(pushes_as, aud)
        )
        self.relay.subscribe(self.relay.serve())
        self._schedule()

    def _bucket(self) -> None:
        from shared.adapters.gcp_storage import GcsBlobStore

        GcsBlobStore(PROJECT, self.deploy.jobs()["soul-worker-gpu"]["env"]["GCS_BUCKET_NAME"]).ensure_bucket()

    def _issuer(self) -> Path:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        from functions.tokens import jwks_json

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        (self.state / "issuer.pem").write_bytes(pem)
        path = self.state / "jwks.json"
        path.write_text(jwks_json((KID, key.public_key())))
        return path

    def _oidc(self, account: str, audience: str) -> str:
        """A Google-shaped OIDC token of `account` for `audience`, signed by the rehearsal's issuer."""
        import jwt

        now = int(time.time())
        claims: dict[str, Any] = {"iss": "https://accounts.google.com", "aud": audience, "iat": now}
        claims |= {"sub": account, "email": account, "email_verified": True, "exp": now + 3600}
        return jwt.encode(claims, (self.state / "issuer.pem").read_bytes(), algorithm="RS256", headers={"kid": KID})

    def _cloud_run(self) -> None:
        jobs = {name: JobSpec(job["command"], job["args"], job["env"]) for name, job in self.deploy.jobs().items()}
        region = self.deploy.variables["region"]
        allowed = run_permissions(self.deploy) | {(OPERATOR, "run.executions.list", "project")}
        log = self.logs / "access-cloudrun.jsonl"  # every checked call, by caller: the IAM check reads it
        self.double = CloudRunDouble(
            PROJECT, region, jobs, self.spawn_task, allowed=allowed, lag=LAG_SECONDS, access_log=log
        )
        self._run_url = self.double.serve()

    def _seed(self) -> None:
        """cloudbuild.yaml's seed step, its env with ${PROJECT_ID} = the rehearsal project."""
        step = next(s for s in yaml.safe_load((ROOT / "cloudbuild.yaml").read_text())["steps"] if s["id"] == "seed")
        env = self.base_env("seed")
        env.update(e.replace("${PROJECT_ID}", PROJECT).split("=", 1) for e in step.get("env", []))
        command = step["args"][-1].replace(".venv/bin/", f"{Path(sys.executable).parent}/")
        if self.spawn([step["entrypoint"], *step["args"][:-1], command], env, "seed").wait(timeout=120) != 0:
            raise RuntimeError(f"seed step failed: see {self.logs / 'seed.log'}")

    def _function(
        self, package: FunctionsPackage, function: dict[str, Any], name: str, port: int, extra: dict[str, str]
    ) -> subprocess.Popen[bytes]:
        env = {**self.base_env(name), **function["env"], **extra, **package.env(), **REPLACED}
        env["PATH"] = f"{package.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return self.spawn(package.command(function, port), env, name, cwd=package.source)

    def _schedule(self) -> None:
        """Cloud Scheduler: POST the declared uri (on the double) every declared period."""
        schedule = self.deploy.reconcile_schedule()
        assert self.double is not None
        url = schedule["uri"].replace("https://run.googleapis.com", self.double.endpoint(schedule["service_account"]))

        def tick() -> None:
            while not self.stop_event.wait(schedule["period_seconds"]):
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(urllib.request.Request(url, data=b"", method="POST"), timeout=10).close()  # noqa: S310

        threading.Thread(target=tick, daemon=True, name="scheduler").start()

    # ---- stop ----------------------------------------------------------------------------------

    def stop(self, grace: Callable[[], float] = lambda: GRACE_SECONDS) -> None:
        """Stop what was started, newest first; `grace()` drops to 0 when a second signal came."""
        self.stop_event.set()
        if self.relay is not None:
            self.relay.close()
        if self.double is not None:
            self.double.close()
        self.safety.__exit__(None, None, None)
        for proc in reversed(self.procs):
            kill_group(proc.pid, grace())
        if self.emus is not None:
            for server in self.emus.servers.values():
                kill_group(server.pid, grace())
            self.emus.servers.clear()


def _wait_http(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0, any_status: bool = False
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310
                return
        except urllib.error.HTTPError:
            if any_status:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def token(state: Path, sub: str, ttl: float = 3600) -> str:
    """An ID token the rehearsal's api accepts, for user `sub` (shaped like Firebase Auth's)."""
    import jwt

    now = int(time.time())
    claims = {
        "iss": f"https://securetoken.google.com/{PROJECT}",
        "aud": PROJECT,
        "sub": sub,
        "iat": now,
        "exp": now + int(ttl),
    }
    return jwt.encode(claims, (state / "issuer.pem").read_bytes(), algorithm="RS256", headers={"kid": KID})


def run(state: Path, port: int, cache: Path) -> int:
    """Start everything, print where, wait for Ctrl-C or SIGTERM, stop everything (rehearse_lifecycle).

    Relative paths are resolved here, once: pip and functions-framework run in other directories."""
    state, cache = state.resolve(), cache.resolve()
    rehearsal = Rehearsal(state, port, cache)

    def ready() -> None:
        print(f"soul rehearse: http://127.0.0.1:{port}  (logs: {rehearsal.logs})")
        print(f"  ID token for a user: python -m infra.rehearse token <user> --state {state}")
        emus = rehearsal.emus.env() if rehearsal.emus else {}
        print(json.dumps({"cloud_run": rehearsal._run_url, "emulators": emus}), flush=True)

    return serve(rehearsal, ready)


if __name__ == "__main__":
    if sys.argv[1:2] == ["token"] and len(sys.argv) >= 3:
        where = Path(sys.argv[4]) if sys.argv[3:4] == ["--state"] else Path(".soul-data/rehearse")
        print(token(where, sys.argv[2]))
