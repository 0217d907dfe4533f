"""Which Google APIs and resources a process touches, recorded through the gcp adapters.

With SOUL_ACCESS_LOG=<path> (the rehearsal sets one per deployable), `gcp_backend.build` wraps each
adapter so that every call appends one JSON line `{"api", "op", "resource"}` the first time this
process makes it. tests/e2e/test_rehearsal.py compares the union with the roles Terraform grants the
deployable's service account: every use covered, no role unused (docs/ARCHITECTURE.md, "IAM from
the code"). Unset, nothing is wrapped and nothing is written.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

Use = tuple[str, str, str]  # (api, op, resource)
Classify = Callable[[str, tuple[Any, ...]], Use | list[Use] | None]

READS = {"get", "get_many", "query", "count", "get_versioned"}
WRITES = {"create", "set", "update", "delete", "increment", "write_if_unchanged"}


class AccessLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._seen: set[Use] = set()
        self._lock = threading.Lock()

    def record(self, use: Use) -> None:
        with self._lock:
            if use in self._seen:
                return
            self._seen.add(use)
            api, op, resource = use
            line = json.dumps({"api": api, "op": op, "resource": resource, "pid": os.getpid()})
            with self.path.open("a") as out:
                out.write(line + "\n")


class Recording:
    """Forwards every attribute to `target`; calls that `classify` names are recorded first."""

    def __init__(self, target: Any, log: AccessLog, classify: Classify) -> None:
        self._target, self._log, self._classify = target, log, classify

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            use = self._classify(name, args)
            for one in [use] if isinstance(use, tuple) else use or []:
                self._log.record(one)
            return attr(*args, **kwargs)

        return call


def firestore(database: str) -> Classify:
    def classify(op: str, args: tuple[Any, ...]) -> Use | None:
        collection = str(args[0]).split("/")[0] if args else ""
        if op in READS:
            return "firestore", "read", f"{database}/{collection}"
        if op in WRITES:
            return "firestore", "write", f"{database}/{collection}"
        return ("firestore", "transaction", database) if op == "transaction" else None

    return classify


def pubsub(topic: str, subscription: Callable[[str], str]) -> Classify:
    def classify(op: str, args: tuple[Any, ...]) -> Use | None:
        if op == "publish":
            return "pubsub", "publish", topic
        if op in {"pull", "ack", "nack", "extend"}:
            return "pubsub", "consume", subscription(str(args[0]))
        return None

    return classify


def storage(bucket: str, signer_email: str) -> Classify:
    ops = {"get": "read", "exists": "read", "list": "read", "put": "create", "delete": "delete"}

    def classify(op: str, args: tuple[Any, ...]) -> Use | list[Use] | None:
        if op == "signed_url":
            # A signed URL reads as its signer; in the cloud a keyless runtime signs through IAM
            # signBlob as SOUL_SIGNER_EMAIL.
            read = ("storage", "read", bucket)
            return [read, ("iam", "signBlob", signer_email)] if signer_email else read
        return ("storage", ops[op], bucket) if op in ops else None

    return classify


def cloud_run(job_of: Callable[[str], str]) -> Classify:
    def classify(op: str, args: tuple[Any, ...]) -> Use | None:
        return ("run", "runWithOverrides", job_of(str(args[0]))) if op == "launch" else None

    return classify
