"""How Soul runs: the `soul` CLI, the local all-in-one stack, emulator launcher, seed data, Dockerfiles."""
