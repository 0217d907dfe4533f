"""What Terraform deploys matches what the code reads, both ways, with names taken from the code.

Sources of truth on the code side (nothing hand-copied): `shared.config.Settings` (field names →
environment variable names, defaults → resource names), `shared.config.LANES`,
`Settings.subscription(lane)`, `shared.records.COLLECTIONS`, and the queries in the code (found by
reading the AST of every `store.query/count` and `tx.query` call).

Rules enforced:
1. Every environment variable Terraform sets (the keys of the `*_env` locals in envs/dev) is a
   Settings field, and its literal value validates against that field. Every `*_env` local reaches a
   deployable.
2. Every Settings field whose default is wrong in the cloud is set for the deployables that read it:
   the fields in `REQUIRED` below, plus — computed from the code — every field typed as a Literal
   choice (a deployment decision) or defaulting to None / "" (unset means "off" or "local"). Such a
   field is either required somewhere or listed in `NOT_SET_IN_CLOUD` with the reason.
3. Topic, lane subscriptions, dead-letter topic, job names and the Firestore database are the
   Settings defaults; the lanes are LANES and each lane is served by exactly one job.
4. Firestore: every collection Terraform indexes is one the code uses, every collection the code
   touches is in `records.COLLECTIONS`, infra/firestore.indexes.json and the `google_firestore_index`
   resources are the same set, every query in the code on two or more fields has its composite index,
   and every index serves a query in the code.
"""

from __future__ import annotations

import ast
import itertools
import json
import re
import typing
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from infra.rehearse_terraform import parsed
from shared import records
from shared.config import LANES, Settings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
ENV_MAIN = TERRAFORM / "envs" / "dev" / "main.tf"

# Per deployable: fields whose Settings default is wrong in the cloud, with why.
REQUIRED: dict[str, set[str]] = {
    # Every deployable: the backend and where it lives (project-specific, or tied to a Terraform resource).
    "all": {
        "soul_backend",
        "google_cloud_project",
        "gcs_bucket_name",
        "firestore_database",
        "pubsub_topic",
        "pubsub_subscription_prefix",
        "pubsub_dead_letter_topic",
        "soul_max_delivery_attempts",  # must equal the subscriptions' dead-letter policy
        "soul_ack_deadline_seconds",  # must equal the subscriptions' ack deadline
        "soul_metrics_exporter",  # cloud_monitoring: the default (prometheus) is only read by /metrics scrapes
        "soul_trace_exporter",  # cloud_trace: the default (log) writes spans to stderr instead
    },
    "functions.api_env": {"soul_auth_mode", "soul_signer_email", "soul_text_moderation", "soul_firebase_api_key"},
    "functions.dispatch_env": {"cloud_run_region", "cloud_run_job_gpu", "cloud_run_job_wan"},
    "reconciler.env": {"cloud_run_region", "cloud_run_job_gpu", "cloud_run_job_wan"},  # relaunches queued lanes
    "worker_gpu.env": {"sdxl_model_path", "svd_model_path", "soul_models_bucket", "soul_output_screening"},
    "worker_wan.env": {"wan_api_base_url", "soul_output_screening"},
    "worker_wan.secret_env": {"dashscope_api_key"},
}
NOT_SET_IN_CLOUD: dict[str, str] = {
    "sdxl_config_dir": "only for single-file SDXL checkpoints; the models volume holds diffusers folders",
    "soul_admin_subjects": "empty = admins are the tokens carrying `soul_admin: true` (a custom claim you grant)",
    "soul_access_log": "the rehearsal's record of Google API calls (the IAM check); nothing to record in the cloud",
    "cloud_run_api_endpoint": "empty = Google's Cloud Run Admin API; only the rehearsal points it at its double",
    "soul_signer_email": "set for the api only; the workers never sign URLs",
    "soul_failpoints": "crash injection for the recovery tests only; must stay empty in the cloud",
    "soul_preview_hold_file": "preview generator only (tests and demos hold a running job); unset in the cloud",
    "soul_compile_cache_dir": "optional inductor cache path; unset compiles from scratch at worker start",
    "soul_style_cfg_cutoff": "default true: styles' cfg_cutoff acts; false saves the half batch's compiled graphs",
    "soul_style_step_cache": "default true: styles' step caching acts; false saves its compiled graphs",
    "soul_jwks_file": "tests and offline setups only; the cloud reads SOUL_JWKS_URL",
    "soul_token_issuer": "empty = Firebase Auth of GOOGLE_CLOUD_PROJECT",
    "soul_token_audience": "empty = GOOGLE_CLOUD_PROJECT",
    "soul_firebase_auth_domain": "empty = <GOOGLE_CLOUD_PROJECT>.firebaseapp.com, Identity Platform's own",
    "redis_url": "no Memorystore in envs/dev: quotas live in Firestore (quotas collection)",
    "soul_embedding_provider": "static (the model in the functions' wheel) is right in the cloud; vertex is opt-in",
    "soul_embedding_endpoint": "empty = Vertex AI's regional endpoint; only tests point it at a local server",
    "soul_strict_souls": "empty = every soul at the standard thresholds (docs/SAFETY.md)",
    "soul_language_endpoint": "empty = Google's Natural Language API; only tests point it at a local server",
    "soul_vision_endpoint": "empty = Google's Vision API; only tests point it at a local server",
    "soul_allowed_hosts": "dev mode only (DNS rebinding); the cloud runs token mode, where Host is not checked",
    "otel_exporter_otlp_endpoint": "empty = no OTLP collector; the cloud exports spans to Cloud Trace",
    "soul_cors_origins": "empty = no cross-origin browser callers; the web pages are same-origin with the api",
}
STORE_METHODS = {"get", "get_many", "query", "count", "create", "set", "update", "delete", "increment"}
CODE_DIRS = ("shared", "functions", "gpu_jobs")


def env_locals() -> dict[str, Any]:
    return parsed(ENV_MAIN)["locals"][0]  # type: ignore[no-any-return]


def modules() -> dict[str, dict[str, Any]]:
    return {name: body for mod in parsed(ENV_MAIN)["module"] for name, body in mod.items()}


def variable_defaults() -> dict[str, Any]:
    path = ENV_MAIN.parent / "variables.tf"
    return {name: body.get("default") for block in parsed(path)["variable"] for name, body in block.items()}


def deployables() -> dict[str, set[str]]:
    """'<module>.<argument>' → names of the *_env locals it receives (e.g. merge(local.common_env, …))."""
    found: dict[str, set[str]] = {}
    for mod_name, body in modules().items():
        for arg, value in body.items():
            refs = set(re.findall(r"local\.(\w+_env)\b", str(value)))
            if arg.endswith("env") and refs:
                found[f"{mod_name}.{arg}"] = refs
    return found


def env_of(deployable: str) -> dict[str, Any]:
    locals_ = env_locals()
    return {k: v for ref in deployables()[deployable] for k, v in locals_[ref].items()}


def resolve(value: Any) -> Any:
    """A Terraform value as Python, where it is a literal, a `local.names.*` or a defaulted variable."""
    if not isinstance(value, str):
        return value
    match = re.fullmatch(r"\$\{(?:tostring\()?(var|local\.names)\.(\w+)\)?\}", value)
    if not match:
        return value if "${" not in value else None
    if match.group(1) == "var":
        return variable_defaults().get(match.group(2))
    return env_locals()["names"][match.group(2)]


def fields() -> dict[str, Any]:
    return dict(Settings.model_fields)


# ---- environment variables ----------------------------------------------------------------------


def test_every_env_var_terraform_sets_is_a_settings_field() -> None:
    known = {name.upper() for name in fields()}
    for ref, values in env_locals().items():
        if ref.endswith("_env"):
            unknown = set(values) - known
            assert not unknown, f"local.{ref} sets {sorted(unknown)}, which shared.config.Settings does not read"


def test_every_env_local_reaches_a_deployable() -> None:
    used = {ref for refs in deployables().values() for ref in refs}
    declared = {ref for ref in env_locals() if ref.endswith("_env")}
    assert declared == used


def test_literal_env_values_validate_against_settings() -> None:
    for deployable in deployables():
        values = {k.lower(): resolve(v) for k, v in env_of(deployable).items() if not isinstance(v, dict)}
        literal = {k: v for k, v in values.items() if v is not None}
        Settings.model_validate(literal)  # raises on a typo'd choice or an out-of-range number


def test_cloud_specific_fields_are_set_where_they_are_read() -> None:
    for deployable, needed in REQUIRED.items():
        targets = list(deployables()) if deployable == "all" else [deployable]
        for target in targets:
            missing = {f for f in needed if f.upper() not in env_of(target)}
            if deployable == "all" and target.endswith("secret_env"):
                continue
            assert not missing, f"{target} does not set {sorted(missing)}"


def test_every_field_without_a_safe_cloud_default_is_classified() -> None:
    required = set().union(*REQUIRED.values())
    for name, info in fields().items():
        is_choice = typing.get_origin(info.annotation) is typing.Literal
        empty = info.default is None or info.default == ""
        if is_choice or empty:
            assert name in required or name in NOT_SET_IN_CLOUD, (
                f"Settings.{name} has no safe cloud default: add it to a deployable's env in "
                f"terraform/envs/dev/main.tf (and REQUIRED here) or give the reason in NOT_SET_IN_CLOUD"
            )
    assert set(NOT_SET_IN_CLOUD) <= set(fields())


def test_cloud_modes_are_the_cloud_ones() -> None:
    assert env_locals()["common_env"]["SOUL_BACKEND"] == "gcp"
    assert env_locals()["api_env"]["SOUL_AUTH_MODE"] == "token"
    assert env_locals()["common_env"]["SOUL_TRACE_EXPORTER"] == "cloud_trace"
    assert env_locals()["api_env"]["SOUL_SIGNER_EMAIL"] == '${module.accounts.emails["soul-api"]}'


def _reads(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} | {
        n.arg for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg
    }


def test_every_settings_field_is_read_by_some_code() -> None:
    """A field nobody reads is a knob that does nothing (SOUL_WORKER_IDLE_EXIT_SECONDS once was one);
    with the test above, every variable Terraform sets is read too."""
    read: set[str] = set()
    for d in (*CODE_DIRS, "infra"):
        for path in (ROOT / d).rglob("*.py"):
            read |= _reads(path)
    unread = set(fields()) - read
    assert not unread, f"Settings fields no code reads (use them or delete them): {sorted(unread)}"


def test_worker_argv_from_terraform_and_every_dispatcher_override_parses() -> None:
    """Cloud Run replaces the job's args with the override's: both must be whole `soul worker` argvs."""
    from infra.cli import IDLE_FROM_SETTINGS, cmd_worker, parser
    from infra.rehearse_terraform import Deploy
    from shared.adapters.gcp_run import CloudRunLauncher
    from shared.clock import SystemClock

    jobs = Deploy.load(project_id="p").jobs()
    launcher = CloudRunLauncher(Settings(google_cloud_project="p"), store=None, clock=SystemClock())  # type: ignore[arg-type]
    for lane in LANES:
        request = launcher.request(lane)
        job = jobs[request.name.rsplit("/", 1)[1]]
        for argv in (job["args"], list(request.overrides.container_overrides[0].args)):
            args = parser().parse_args(argv)
            assert args.fn is cmd_worker and args.exit_when_idle == IDLE_FROM_SETTINGS, argv
        assert lane in parser().parse_args(job["args"]).lanes.split(",")
        assert parser().parse_args(list(request.overrides.container_overrides[0].args)).lanes == lane
        assert request.overrides.task_count == 1


# ---- names: topic, subscriptions, jobs, bucket, database ----------------------------------------


def test_resource_names_are_the_settings_defaults() -> None:
    defaults = Settings()
    names = env_locals()["names"]
    assert names["topic"] == defaults.pubsub_topic
    assert names["subscription_prefix"] == defaults.pubsub_subscription_prefix
    assert names["dead_letter_topic"] == defaults.pubsub_dead_letter_topic
    assert names["job_gpu"] == defaults.cloud_run_job_gpu
    assert names["job_wan"] == defaults.cloud_run_job_wan
    assert names["database"] == defaults.firestore_database
    mods = modules()
    assert mods["pubsub"]["topic"] == "${local.names.topic}"
    assert mods["pubsub"]["dead_letter_topic"] == "${local.names.dead_letter_topic}"
    assert mods["pubsub"]["subscription_prefix"] == "${local.names.subscription_prefix}"
    assert mods["worker_gpu"]["name"] == "${local.names.job_gpu}"
    assert mods["worker_wan"]["name"] == "${local.names.job_wan}"
    assert mods["firestore"]["database"] == "${local.names.database}"


def test_env_vars_point_at_the_resources_terraform_creates() -> None:
    common = env_locals()["common_env"]
    assert common["GCS_BUCKET_NAME"] == "${module.artifacts.name}"
    assert common["PUBSUB_TOPIC"] == "${module.pubsub.topic_name}"
    assert common["PUBSUB_DEAD_LETTER_TOPIC"] == "${module.pubsub.dead_letter_topic_name}"
    assert common["FIRESTORE_DATABASE"] == "${module.firestore.database}"
    assert common["SOUL_MAX_DELIVERY_ATTEMPTS"] == "${tostring(var.max_delivery_attempts)}"
    assert modules()["pubsub"]["max_delivery_attempts"] == "${var.max_delivery_attempts}"
    assert common["SOUL_ACK_DEADLINE_SECONDS"] == "${tostring(var.ack_deadline_seconds)}"
    assert modules()["pubsub"]["ack_deadline_seconds"] == "${var.ack_deadline_seconds}"
    dispatch = env_locals()["dispatch_env"]
    assert dispatch["CLOUD_RUN_JOB_GPU"] == "${module.worker_gpu.name}"
    assert dispatch["CLOUD_RUN_JOB_WAN"] == "${module.worker_wan.name}"
    assert variable_defaults()["max_delivery_attempts"] == Settings().soul_max_delivery_attempts
    assert variable_defaults()["ack_deadline_seconds"] == Settings().soul_ack_deadline_seconds


def _render(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace("${" + key + "}", value)
    assert "${" not in template, template
    return template


def test_subscriptions_are_the_ones_the_code_pulls() -> None:
    pubsub = parsed(TERRAFORM / "modules" / "pubsub" / "main.tf")
    subs = {
        name: body for block in pubsub["resource"] for name, body in block.get("google_pubsub_subscription", {}).items()
    }
    settings = Settings()
    assert env_locals()["lanes"] == list(LANES)
    lane_names = [
        _render(
            subs["lane"]["name"], **{"var.subscription_prefix": settings.pubsub_subscription_prefix, "each.key": lane}
        )
        for lane in LANES
    ]
    assert lane_names == [settings.subscription(lane) for lane in LANES]
    dead = _render(subs["dead_letter"]["name"], **{"var.dead_letter_topic": settings.pubsub_dead_letter_topic})
    from shared.adapters.gcp_pubsub import dead_letter_subscription

    assert dead == dead_letter_subscription(settings) == "soul-jobs-dead-sub"


def test_each_lane_has_exactly_one_job() -> None:
    locals_ = env_locals()
    lanes = {"worker_gpu": locals_["gpu_lanes"], "worker_wan": locals_["cpu_lanes"]}
    for job, job_lanes in lanes.items():
        assert modules()[job]["args"][2] == f'${{join(",", local.{"gpu" if job == "worker_gpu" else "cpu"}_lanes)}}'
        assert job_lanes
    assert sorted(itertools.chain(*lanes.values())) == sorted(LANES)
    assert set(locals_["gpu_lanes"]) == {"image", "video"}, "SDXL and SVD need the GPU; Wan is an HTTP API"


# ---- Firestore: collections, indexes, queries ---------------------------------------------------

IndexKey = tuple[str, tuple[tuple[str, str], ...]]


def json_indexes() -> set[IndexKey]:
    data = json.loads((ROOT / "infra" / "firestore.indexes.json").read_text())
    return {
        (ix["collectionGroup"], tuple((f["fieldPath"], f.get("order") or f["arrayConfig"]) for f in ix["fields"]))
        for ix in data["indexes"]
        if not any("vectorConfig" in f for f in ix["fields"])  # vector indexes: tests/unit/test_semantic_deploy.py
    }


def terraform_indexes() -> set[IndexKey]:
    found = set()
    for block in parsed(TERRAFORM / "modules" / "firestore" / "main.tf")["resource"]:
        for body in block.get("google_firestore_index", {}).values():
            if any("vector_config" in f for f in body["fields"]):
                continue  # vector indexes serve find_nearest, not store queries: tests/unit/test_semantic_deploy.py
            found.add(
                (
                    body["collection"],
                    tuple((f["field_path"], f.get("order") or f["array_config"]) for f in body["fields"]),
                )
            )
    return found


def _constants() -> dict[str, str]:
    values: dict[str, str] = {}
    for path in _code_files():
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                values.update({t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)})
    return values


@cache
def _code_files() -> tuple[Path, ...]:
    return tuple(
        p
        for d in CODE_DIRS
        for p in sorted((ROOT / d).rglob("*.py"))
        if "adapters" not in p.parts and "__pycache__" not in p.parts
    )


def _collection(node: ast.expr, consts: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name | ast.Attribute):
        return consts.get(node.id if isinstance(node, ast.Name) else node.attr)
    if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("seen_collection"):
        return f"{records.USERS}/{{}}/seen"
    return None


def _filter_tuple(node: ast.expr) -> tuple[str, str] | None:
    if isinstance(node, ast.Tuple) and len(node.elts) == 3:
        field, op = node.elts[0], node.elts[1]
        if isinstance(field, ast.Constant) and isinstance(op, ast.Constant):
            return str(field.value), str(op.value)
    return None


def _filter_shapes(arg: ast.expr | None, func: ast.AST) -> list[tuple[tuple[str, str], ...]] | None:
    """The filter lists a call can pass: a literal, or a local list built with (conditional) appends."""
    if arg is None:
        return [()]
    if isinstance(arg, ast.List | ast.Tuple):
        items = [_filter_tuple(e) for e in arg.elts]
        return None if None in items else [tuple(i for i in items if i)]
    params = {a.arg for a in func.args.args + func.args.kwonlyargs} if isinstance(func, ast.FunctionDef) else set()
    if not isinstance(arg, ast.Name) or arg.id in params:
        return None  # built by a caller: the shapes cannot be read here
    fixed: list[tuple[str, str]] = []
    optional: list[tuple[str, str]] = []
    conditional = {id(n) for node in ast.walk(func) if isinstance(node, ast.If) for n in ast.walk(node)}
    for node in ast.walk(func):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == f"{arg.id}.append" and node.args:
            item = _filter_tuple(node.args[0])
            if item is None:
                return None
            (optional if id(node) in conditional else fixed).append(item)
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            reassigned = any(isinstance(t, ast.Name) and t.id == arg.id for t in targets)
            if reassigned and (not isinstance(node.value, ast.List) or node.value.elts):
                return None
    subsets = itertools.chain.from_iterable(itertools.combinations(optional, r) for r in range(len(optional) + 1))
    return [tuple(fixed) + s for s in subsets]


@cache
def code_usage() -> tuple[set[str], set[tuple[str, tuple[tuple[str, str], ...], str | None, bool]], list[str]]:
    """(collections touched, query shapes, unreadable queries) across shared/, functions/, gpu_jobs/."""
    consts = _constants()
    collections: set[str] = set()
    shapes: set[tuple[str, tuple[tuple[str, str], ...], str | None, bool]] = set()
    unreadable: list[str] = []
    for path in _code_files():
        tree = ast.parse(path.read_text())
        for func in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for call in ast.walk(func):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.args):
                    continue
                if call.func.attr not in STORE_METHODS or not re.search(
                    r"(^|\.)(store|tx)$", ast.unparse(call.func.value)
                ):
                    continue
                where = f"{path.relative_to(ROOT)}:{call.lineno}"
                collection = _collection(call.args[0], consts)
                if collection is None:
                    unreadable.append(f"{where} (collection)")
                    continue
                collections.add(collection)
                if call.func.attr not in {"query", "count"}:
                    continue
                kw = {k.arg: k.value for k in call.keywords}
                filters = _filter_shapes(call.args[1] if len(call.args) > 1 else kw.get("filters"), func)
                order = kw.get("order_by")
                descending = kw.get("descending")
                if filters is None or (order is not None and not isinstance(order, ast.Constant)):
                    unreadable.append(f"{where} (filters)")
                    continue
                order_by = order.value if isinstance(order, ast.Constant) else None
                desc = bool(isinstance(descending, ast.Constant) and descending.value)
                shapes.update((collection, f, order_by, desc) for f in filters)
    return collections, shapes, unreadable


def _needed_index(shape: tuple[str, tuple[tuple[str, str], ...], str | None, bool]) -> IndexKey | None:
    """The composite index a query needs; None when single-field indexes serve it (one field only)."""
    collection, filters, order_by, desc = shape
    used = {f for f, _ in filters} | ({order_by} if order_by else set())
    if len(used) < 2:
        return None
    equality = sorted((f, "CONTAINS" if op == "array_contains" else "ASCENDING") for f, op in filters if f != order_by)
    tail = ((order_by, "DESCENDING" if desc else "ASCENDING"),) if order_by else ()
    return collection.split("/")[-1], tuple(equality) + tail


def _normalized(index: IndexKey) -> IndexKey:
    """Equality/array fields in any order, then the ordered field (the last one, if it has an order)."""
    collection, fields_ = index
    *head, last = fields_
    if last[1] == "DESCENDING" or any(f[1] == "CONTAINS" for f in fields_):
        return collection, (*sorted(head), last)
    return collection, tuple(sorted(fields_))


def test_index_json_and_terraform_agree() -> None:
    assert json_indexes() == terraform_indexes()


def test_code_queries_are_readable() -> None:
    _, _, unreadable = code_usage()
    assert not unreadable, f"pass collections as constants and filters as literal lists (or appends): {unreadable}"


def test_every_collection_the_code_touches_is_in_records_collections() -> None:
    collections, _, _ = code_usage()
    roots = {c.split("/")[0] for c in collections}
    assert roots <= set(records.COLLECTIONS), (
        f"not in shared.records.COLLECTIONS: {sorted(roots - set(records.COLLECTIONS))}"
    )


def test_every_multi_field_query_has_its_index_and_every_index_is_used() -> None:
    _, shapes, _ = code_usage()
    needed = {_normalized(ix) for shape in shapes if (ix := _needed_index(shape))}
    declared = {_normalized(ix) for ix in terraform_indexes()}
    assert not needed - declared, f"queries without a composite index: {sorted(needed - declared)}"
    assert not declared - needed, f"indexes no query uses: {sorted(declared - needed)}"
    assert {c for c, _ in declared} <= set(records.COLLECTIONS)
