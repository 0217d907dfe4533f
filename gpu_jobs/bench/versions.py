"""One JSON line with what a device run measures with: the GPU, torch and CUDA, and the pinned libraries
(`gpu_jobs/bench/device_check.sh`'s install step prints it first, so every figure has its versions)."""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError, version

import torch

PACKAGES = ("diffusers", "transformers", "torchao", "accelerate", "triton", "pydantic")


def versions() -> dict[str, object]:
    found: dict[str, object] = {"what": "versions", "python": platform.python_version(), "torch": torch.__version__,
                                "cuda": torch.version.cuda, "gpu": None}  # fmt: skip
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        found |= {"gpu": props.name, "capability": [props.major, props.minor],
                  "memory_gib": round(props.total_memory / 2**30, 1)}  # fmt: skip
    return found


if __name__ == "__main__":
    print(json.dumps(versions()), flush=True)  # a CLI report
