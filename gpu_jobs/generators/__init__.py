"""Generators, one module each (preview, sdxl, svd, wan); they never import each other (import-linter)."""
