"""Builds the source zip the two Cloud Functions (gen 2) deploy from: `python infra/docker/functions_source.py`.

The zip holds only what the functions import (`shared`, `functions`) plus `pyproject.toml`, and a
`requirements.txt` that installs `.[functions]`: no torch, no models. Terraform uploads it under a
content-addressed name, so an unchanged zip redeploys nothing.

requirements.txt starts with the exact pins of functions-requirements.lock (every package `.[functions]`
installs), so the buildpack installs the versions tested here, not whatever satisfies pyproject's lower
bounds on the day of the deploy. After changing the functions' dependencies, re-lock with
`python infra/docker/functions_source.py --lock` (a fresh Python 3.11 venv: the functions' runtime).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "functions")
SKIP_PARTS = {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache"}
REQUIREMENTS = ".[functions]\n"
LOCK = ROOT / "infra" / "docker" / "functions-requirements.lock"
LOCK_HEADER = "# Exact versions of everything .[functions] installs: python infra/docker/functions_source.py --lock\n"
FIXED_TIME = (2020, 1, 1, 0, 0, 0)  # stable bytes → stable md5 → no redeploy without a change


def source_files() -> list[Path]:
    files = [ROOT / "pyproject.toml"]
    for package in PACKAGES:
        files += [p for p in (ROOT / package).rglob("*") if p.is_file() and not SKIP_PARTS & set(p.parts)]
    return sorted(f for f in files if f.suffix != ".pyc")


def build(out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    readme = ROOT / "README.md"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in source_files():
            zf.writestr(zipfile.ZipInfo(path.relative_to(ROOT).as_posix(), FIXED_TIME), path.read_bytes())
        # pyproject names README.md as the readme: the package does not build without it.
        zf.writestr(zipfile.ZipInfo("README.md", FIXED_TIME), readme.read_bytes() if readme.exists() else b"Soul\n")
        zf.writestr(zipfile.ZipInfo("requirements.txt", FIXED_TIME), requirements())
    return out


def requirements() -> str:
    """The lock's pins, then the package itself with the functions' extra."""
    return LOCK.read_text() + REQUIREMENTS


def lock(python: str = "python3.11") -> Path:
    """Install `.[functions]` into a fresh venv of `python` and write what it holds to the lock."""
    with tempfile.TemporaryDirectory() as tmp:
        venv_python = str(Path(tmp) / "bin" / "python")
        subprocess.run([python, "-m", "venv", tmp], check=True)
        subprocess.run([venv_python, "-m", "pip", "install", "--quiet", f"{ROOT}[functions]"], check=True)
        frozen = subprocess.run(
            [venv_python, "-m", "pip", "freeze", "--exclude", "soul"], check=True, capture_output=True, text=True
        ).stdout
    LOCK.write_text(LOCK_HEADER + frozen)
    return LOCK


if __name__ == "__main__":
    if sys.argv[1:2] == ["--lock"]:
        print(lock(*sys.argv[2:3]))
        sys.exit(0)
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "functions-source.zip"
    print(build(target))
