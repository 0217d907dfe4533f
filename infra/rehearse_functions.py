"""The Cloud Functions of the rehearsal: the source package the deploy uploads, in its own venv.

`prepare` builds the zip exactly as the `functions-source` Cloud Build step does
(infra/docker/functions_source.py), unpacks it, and installs the package's own requirements.txt
into a fresh virtualenv with pip (offline from the local mirror here). The venv is cached under the
hash of requirements.txt and pyproject.toml, so a repeat run starts in seconds; the unpacked source
is put first on PYTHONPATH, so the code served is always the package just built (the buildpack
serves the source directory the same way). `command` is the `functions-framework` argv for one
function, with the entry point, source file and signature type Terraform declares.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class FunctionsPackage:
    source: Path  # the unpacked zip
    venv: Path

    def command(self, function: dict[str, Any], port: int) -> list[str]:
        return [
            str(self.venv / "bin" / "functions-framework"),
            f"--source={self.source / function['source']}",
            f"--target={function['entry_point']}",
            f"--signature-type={function['signature']}",
            "--host=127.0.0.1",
            f"--port={port}",
        ]

    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.source), "VIRTUAL_ENV": str(self.venv)}


def _builder() -> Any:
    spec = importlib.util.spec_from_file_location("functions_source", ROOT / "infra" / "docker" / "functions_source.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def requirements_key(source: Path) -> str:
    """What requirements.txt resolves to (`.[functions]` → the extras it pulls in, self-references
    expanded, and the base dependencies), not the code nor other extras: a new GPU dependency does
    not rebuild the functions venv."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    optional = project.get("optional-dependencies", {})
    lines = (source / "requirements.txt").read_text().split()
    todo = [e for line in lines for m in [re.match(r"\.\[([^\]]+)\]", line)] if m for e in m.group(1).split(",")]
    wanted, seen = [*project.get("dependencies", []), *(x for x in lines if not x.startswith(".["))], set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional.get(extra, []):
            ref = re.match(r"[\w-]+\[([^\]]+)\]$", req) if req.startswith(project["name"]) else None
            todo += ref.group(1).split(",") if ref else []
            wanted += [] if ref else [req]
    return hashlib.sha256(json.dumps(sorted(wanted)).encode()).hexdigest()[:16]


def prepare(state: Path, cache: Path, log: Path) -> FunctionsPackage:
    """Build and unpack the deploy's functions zip; reuse or make the venv its requirements need."""
    zip_path = _builder().build(state / "functions-source.zip")
    source = state / "functions-source"
    shutil.rmtree(source, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(source)
    venv = cache / requirements_key(source)
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        with log.open("ab") as out:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=out, stderr=out)
            pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"]
            subprocess.run(pip, cwd=source, check=True, stdout=out, stderr=out)
        (venv / ".complete").touch()
    return FunctionsPackage(source, venv)
