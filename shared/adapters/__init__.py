"""Adapters per backend: `sqlite_*` / `fs_blobs` (local, embedded default) and `gcp_*` (Google Cloud)."""
