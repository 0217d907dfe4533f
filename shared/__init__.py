"""Code shared by the functions and the worker: domain, ports, adapters, config, errors, logging.

Never imports torch, diffusers, flask, `functions` or `gpu_jobs` (checked by import-linter).
"""
