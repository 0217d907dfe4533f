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
    """requirements.txt and what it resolves to in pyproject (dependencies and extras), not the code."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    wanted = {"dependencies": project.get("dependencies", []), "extras": project.get("optional-dependencies", {})}
    digest = hashlib.sha256((source / "requirements.txt").read_bytes())
    digest.update(json.dumps(wanted, sort_keys=True).encode())
    return digest.hexdigest()[:16]


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
