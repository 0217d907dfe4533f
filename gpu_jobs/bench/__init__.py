"""Benchmarks that print Soul beside its peer baseline measured in the same run (docs/ARCHITECTURE.md, Benchmarks)."""
