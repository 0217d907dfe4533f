"""What `terraform/envs/dev` deploys, read from the HCL itself (python-hcl2, no terraform binary).

Used by the rehearsal (`soul rehearse`) to start each deployable with the env, args and entry point
Terraform gives it, and by the offline deploy tests (tests/unit/test_terraform.py,
test_deploy_consistency.py), so both read the deploy files the same way. Values are resolved for a
given project: variables (given, else their defaults), `local.*`, the module outputs the env maps
use, `join(...)`, `merge(local.a, local.b)` and string interpolation. Anything else stays unresolved
and raises, so a new kind of expression cannot slip through silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "terraform"
ENV_DIR = TERRAFORM / "envs" / "dev"
REHEARSAL_WEB_API_KEY = "rehearsal-web-api-key"  # stands in for modules/identity's key (public, no secret)
# Module outputs that envs/dev reads, as the module argument each one returns.
_OUTPUT_ARG = {
    "database": "database",
    "name": "name",
    "topic_name": "topic",
    "dead_letter_topic_name": "dead_letter_topic",
}


def _unquote(value: Any) -> Any:
    """python-hcl2 >= 7 keeps string quotes ('"x"'); older versions strip them. Normalize to stripped."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    if isinstance(value, list):
        return [_unquote(v) for v in value]
    if isinstance(value, dict):
        return {_unquote(k): _unquote(v) for k, v in value.items() if k != "__is_block__"}
    return value


@cache
def parsed(path: Path) -> dict[str, Any]:
    """One .tf file as python-hcl2 gives it, quotes normalized."""
    return _unquote(hcl2.loads(path.read_text()))  # type: ignore[no-any-return]


def blocks(path: Path, kind: str) -> dict[str, Any]:
    """`kind` blocks of a file (module, variable, output) by name."""
    return {name: body for block in parsed(path).get(kind, []) for name, body in block.items()}


def resources(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {name: body for block in parsed(path).get("resource", []) for name, body in block.get(kind, {}).items()}


def first(body: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested block (hcl2 gives a list of one dict)."""
    value = body[key]
    return value[0] if isinstance(value, list) else value  # type: ignore[no-any-return]


class Unresolved(ValueError):
    """An expression the reader does not evaluate."""


@dataclass
class Deploy:
    """envs/dev resolved for one project."""

    variables: dict[str, Any]

    @classmethod
    def load(cls, **overrides: Any) -> Deploy:
        defaults = {k: v.get("default") for k, v in blocks(ENV_DIR / "variables.tf", "variable").items()}
        return cls({**defaults, **overrides})

    @property
    def locals(self) -> dict[str, Any]:
        return parsed(ENV_DIR / "main.tf")["locals"][0]  # type: ignore[no-any-return]

    @property
    def modules(self) -> dict[str, dict[str, Any]]:
        return blocks(ENV_DIR / "main.tf", "module")

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return resources(ENV_DIR / "main.tf", kind)[name]

    def resolve(self, value: Any) -> Any:
        """A Terraform value as Python (strings interpolated, lists and maps element-wise)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = re.fullmatch(r"\$\{([^{}]*)\}", value)
        if whole:
            return self._expr(whole.group(1).strip())
        return re.sub(r"\$\{([^{}]*)\}", lambda m: str(self._expr(m.group(1).strip())), value)

    def _expr(self, expr: str) -> Any:
        if m := re.fullmatch(r"tostring\((.+)\)", expr):
            return str(self._expr(m.group(1)))
        if m := re.fullmatch(r'join\("(.*)",\s*(.+)\)', expr):
            return m.group(1).join(self._expr(m.group(2)))
        if m := re.fullmatch(r"merge\((.+)\)", expr):
            merged: dict[str, Any] = {}
            for part in m.group(1).split(","):
                merged.update(self._expr(part.strip()))
            return merged
        if m := re.fullmatch(r"var\.(\w+)", expr):
            return self.variables[m.group(1)]
        if m := re.fullmatch(r"local\.(\w+)(?:\.(\w+))?", expr):
            value = self.locals[m.group(1)]
            return self.resolve(value[m.group(2)] if m.group(2) else value)
        if m := re.fullmatch(r'module\.accounts\.(emails|members)\["([\w-]+)"\]', expr):
            email = f"{m.group(2)}@{self.variables['project_id']}.iam.gserviceaccount.com"
            return email if m.group(1) == "emails" else f"serviceAccount:{email}"
        if expr == "module.identity.api_key":  # created by Google at apply; the rehearsal signs no one in
            return REHEARSAL_WEB_API_KEY
        if m := re.fullmatch(r"google_storage_bucket\.(\w+)\.name", expr):
            return self.resolve(self.resource("google_storage_bucket", m.group(1))["name"])
        if (m := re.fullmatch(r"module\.(\w+)\.(\w+)", expr)) and m.group(2) in _OUTPUT_ARG:
            return self.resolve(self.modules[m.group(1)][_OUTPUT_ARG[m.group(2)]])
        raise Unresolved(expr)

    # ---- the deployables ---------------------------------------------------------------------

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Cloud Run jobs by job name: {module, command, args, env, service_account}."""
        job = resources(TERRAFORM / "modules/worker_jobs/main.tf", "google_cloud_run_v2_job")["this"]
        command = first(first(first(job, "template"), "template"), "containers")["command"]
        found = {}
        for module, body in self.modules.items():
            if Path(body["source"]).name == "worker_jobs":
                found[self.resolve(body["name"])] = {
                    "module": module,
                    "command": command,
                    "args": self.resolve(body["args"]),
                    "env": self.resolve(body["env"]),
                    "service_account": self.resolve(body["service_account"]),
                }
        return found

    def functions(self) -> dict[str, dict[str, Any]]:
        """Cloud Functions by name: {entry_point, source, signature, env, service_account}."""
        path = TERRAFORM / "modules/functions/main.tf"
        build_env = parsed(path)["locals"][0]["build_env"]
        module = self.modules["functions"]
        found = {}
        for name, body in resources(path, "google_cloudfunctions2_function").items():
            service = first(body, "service_config")
            env_arg = re.fullmatch(r"\$\{var\.(\w+)\}", service["environment_variables"])
            account_arg = re.fullmatch(r"\$\{var\.(\w+)\}", service["service_account_email"])
            assert env_arg and account_arg, name
            found[name] = {
                "entry_point": first(body, "build_config")["entry_point"],
                "source": build_env["GOOGLE_FUNCTION_SOURCE"],
                "signature": "cloudevent" if "event_trigger" in body else "http",
                "env": self.resolve(module[env_arg.group(1)]),
                "service_account": self.resolve(module[account_arg.group(1)]),
                "trigger": first(body, "event_trigger") if "event_trigger" in body else None,
            }
        return found

    def pubsub(self) -> dict[str, Any]:
        """Topic, per-lane subscriptions (name, filter, ack deadline, dead-letter policy), dead letters."""
        module = self.modules["pubsub"]
        subs = resources(TERRAFORM / "modules/pubsub/main.tf", "google_pubsub_subscription")
        wanted = (
            "topic",
            "dead_letter_topic",
            "subscription_prefix",
            "lanes",
            "max_delivery_attempts",
            "ack_deadline_seconds",
        )
        values = {f"var.{k}": self.resolve(module[k]) for k in wanted}
        lane = subs["lane"]
        policy = first(lane, "dead_letter_policy")
        lanes = []
        for name in values["var.lanes"]:
            local = {**values, "each.key": name}
            lanes.append(
                {
                    "lane": name,
                    "name": _render(lane["name"], local),
                    "filter": _render(lane["filter"].replace('\\"', '"'), local),
                    "ack_deadline_seconds": int(_render(lane["ack_deadline_seconds"], local)),
                    "max_delivery_attempts": int(_render(policy["max_delivery_attempts"], local)),
                }
            )
        return {
            "topic": values["var.topic"],
            "dead_letter_topic": values["var.dead_letter_topic"],
            "dead_letter_subscription": _render(subs["dead_letter"]["name"], values),
            "dead_letter_ack_deadline_seconds": int(subs["dead_letter"]["ack_deadline_seconds"]),
            "lanes": lanes,
        }

    def reconcile_schedule(self) -> dict[str, Any]:
        """The Cloud Scheduler job: its cron period in seconds and the Cloud Run job it runs."""
        body = self.resource("google_cloud_scheduler_job", "reconcile")
        cron = self.resolve(body["schedule"])
        m = re.fullmatch(r"\*/(\d+) \* \* \* \*", cron)
        if not m:
            raise Unresolved(f"schedule {cron!r}: only '*/N * * * *' is rehearsed")
        target = first(body, "http_target")
        uri = self.resolve(target["uri"])
        account = self.resolve(first(target, "oauth_token")["service_account_email"])
        job = uri.rsplit("/", 1)[1].removesuffix(":run")
        return {"period_seconds": int(m.group(1)) * 60, "uri": uri, "job": job, "service_account": account}


def _render(template: Any, values: dict[str, Any]) -> str:
    text = str(template)
    for key, value in values.items():
        text = text.replace("${" + key + "}", str(value))
    if "${" in text:
        raise Unresolved(text)
    return text


def _member(value: str) -> str:
    return value.removeprefix("serviceAccount:")


def grants(deploy: Deploy) -> set[tuple[str, str, str]]:
    """(service account email, role, resource) for every IAM grant envs/dev makes to its accounts.

    Resources: "project", "topic/<t>", "subscription/<s>", "bucket/<b>", "sa/<email>", "job/<name>",
    "secret/<id>", "function/<name>". The job launcher custom role is "custom:job_launcher".
    """
    m = deploy.modules
    found: set[tuple[str, str, str]] = set()
    project = deploy.variables["project_id"]
    for account, roles in m["accounts"]["project_roles"].items():
        found |= {(f"{account}@{project}.iam.gserviceaccount.com", role, "project") for role in roles}
    sign = deploy.resource("google_service_account_iam_member", "api_signs_as_itself")
    found.add((_member(deploy.resolve(sign["member"])), sign["role"], f"sa/{_member(deploy.resolve(sign['member']))}"))
    bucket = deploy.resolve(m["artifacts"]["name"])
    roles = {"viewers": "roles/storage.objectViewer", "creators": "roles/storage.objectCreator"}
    for arg, role in {**roles, "deleters": "roles/storage.objectUser"}.items():
        found |= {(_member(x), role, f"bucket/{bucket}") for x in deploy.resolve(m["artifacts"].get(arg, []))}
    models = deploy.resource("google_storage_bucket", "models")
    for grant in ("gpu_worker_reads_models", "gpu_worker_saves_compile_cache"):
        model_grant = deploy.resource("google_storage_bucket_iam_member", grant)
        member, role = _member(deploy.resolve(model_grant["member"])), model_grant["role"]
        found.add((member, role, f"bucket/{deploy.resolve(models['name'])}"))
    pubsub = deploy.pubsub()
    found |= {
        (_member(x), "roles/pubsub.publisher", f"topic/{pubsub['topic']}")
        for x in deploy.resolve(m["pubsub"]["publishers"])
    }
    subs = {lane["lane"]: lane["name"] for lane in pubsub["lanes"]}
    for lane, members in deploy.resolve(m["pubsub"]["lane_subscribers"]).items():
        found |= {(_member(x), "roles/pubsub.subscriber", f"subscription/{subs[lane]}") for x in members}
    dead = f"subscription/{pubsub['dead_letter_subscription']}"
    found |= {
        (_member(x), "roles/pubsub.subscriber", dead)
        for x in deploy.resolve(m["pubsub"].get("dead_letter_subscribers", []))
    }
    secret = deploy.resolve(m["dashscope_key"]["secret_id"])
    found |= {
        (_member(x), "roles/secretmanager.secretAccessor", f"secret/{secret}")
        for x in deploy.resolve(m["dashscope_key"]["accessors"])
    }
    for name, job in deploy.jobs().items():
        raw_role = m[job["module"]]["launcher_role"]
        role = "custom:job_launcher" if "job_launcher" in raw_role else deploy.resolve(raw_role)
        found |= {(_member(x), role, f"job/{name}") for x in deploy.resolve(m[job["module"]]["launchers"])}
    invoker = deploy.resolve(m["functions"]["dispatch_service_account_member"])
    found.add((_member(invoker), "roles/run.invoker", "function/dispatch"))
    return found


# Cloud Run permissions of the predefined roles Terraform grants on jobs (Google's role reference).
PREDEFINED_RUN_PERMISSIONS = {"roles/run.invoker": {"run.jobs.run", "run.routes.invoke"}}


def role_permissions(deploy: Deploy) -> dict[str, set[str]]:
    """Permissions per role as `grants` names them: the custom launcher role's from its HCL."""
    custom = deploy.resource("google_project_iam_custom_role", "job_launcher")["permissions"]
    return {**PREDEFINED_RUN_PERMISSIONS, "custom:job_launcher": set(custom)}


def run_permissions(deploy: Deploy) -> set[tuple[str, str, str]]:
    """(service account email, Cloud Run permission, "job/<name>" or "project") from every grant."""
    permissions = role_permissions(deploy)
    return {
        (account, permission, resource)
        for account, role, resource in grants(deploy)
        if resource == "project" or resource.startswith("job/")
        for permission in permissions.get(role, set())
    }
