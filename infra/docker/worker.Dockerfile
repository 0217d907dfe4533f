# syntax=docker/dockerfile:1.7
# Soul worker images, built from the repository root:
#   docker build -f infra/docker/worker.Dockerfile --target gpu -t worker-gpu .   # SDXL/SVD lanes (L4)
#   docker build -f infra/docker/worker.Dockerfile --target cpu -t worker-cpu .   # Wan lane (no torch)
#
# Weights are never fetched per task: the GPU job mounts the models bucket read-only at /models
# (terraform/modules/worker_jobs) and SDXL_MODEL_PATH / SVD_MODEL_PATH point into it. The Hub is
# switched off so a missing file fails loudly instead of downloading. To bake weights instead, COPY
# them to /models in a stage of your own FROM gpu and drop the volume.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# Cloud Run's L4 driver is a CUDA 12.x driver (>= 535): CUDA 12.x runtimes run on it by minor-version
# compatibility, CUDA 13 builds would not. Check the current driver in the Cloud Run GPU docs before
# raising these.
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-base-ubuntu24.04
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu128

# ---- Wan lane: CPU only, no torch --------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS cpu
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 soul
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY gpu_jobs ./gpu_jobs
COPY infra ./infra
COPY functions ./functions
RUN pip install ".[worker]"
USER soul
ENTRYPOINT ["soul"]
CMD ["worker", "--lanes", "wan", "--exit-when-idle"]

# ---- GPU lanes: CUDA base, torch built for CUDA 12.8 ----------------------------------------------
FROM ${CUDA_IMAGE} AS gpu
ARG TORCH_INDEX
ENV DEBIAN_FRONTEND=noninteractive PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1
# torch.compile (SOUL_TORCH_COMPILE) builds Triton kernels and inductor's C++ wrappers at run time:
# they need a C compiler (build-essential) and the Python headers (python3-dev) in the running image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    build-essential python3-dev \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv \
 && useradd --create-home --uid 10001 soul
WORKDIR /app
COPY pyproject.toml README.md ./
# torch first, from the CUDA index, at the version pyproject pins; `.[gpu]` then finds it satisfied.
RUN TORCH_PIN="$(python3 -c 'import re,tomllib;d=tomllib.load(open("pyproject.toml","rb"));print(next(r for r in d["project"]["optional-dependencies"]["gpu"] if re.match(r"torch\b",r)))')" \
 && pip install "$TORCH_PIN" --index-url "$TORCH_INDEX"
COPY shared ./shared
COPY gpu_jobs ./gpu_jobs
COPY infra ./infra
COPY functions ./functions
# The gpu extra pins diffusers, transformers and torchao (SOUL_FP8's config API); the check imports them.
RUN pip install ".[gpu,worker]" \
 && python -c "import torch; assert torch.version.cuda, 'torch has no CUDA build'; print('torch', torch.__version__, 'cuda', torch.version.cuda)" \
 && python -c "import diffusers, transformers, torchao.quantization as q; q.Float8DynamicActivationFloat8WeightConfig; print('diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
USER soul
ENTRYPOINT ["soul"]
CMD ["worker", "--lanes", "image,video", "--exit-when-idle"]
