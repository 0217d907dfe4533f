"""The worker deployable: pulls jobs, runs generators (preview, SDXL, SVD, Wan), encodes and uploads media."""
