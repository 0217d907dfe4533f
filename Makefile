# Soul — two commands on a fresh machine:
#   make dev    set up (first run) and run Soul on the embedded default at http://127.0.0.1:8080
#   make test   set up (first run) and run the gate: ruff, mypy, import-linter, bandit, checkov, pytest
#   make dev PORT=8090         another port when 8080 is taken
#   make test-random           the hypothesis properties with fresh random examples (the gate is derandomized)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: dev test test-random lint typecheck imports pytest setup-local setup-test bandit audit fuzz security checkov clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.local-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e ".[local]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(PIP) -e ".[dev,gpu]"
	touch $@ $(VENV)/.local-installed

setup-local: $(VENV)/.local-installed
setup-test: $(VENV)/.test-installed
	bash infra/setup-test-machine.sh

dev: setup-local
	$(VENV)/bin/soul dev $(if $(PORT),--port $(PORT))

lint: setup-test
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: setup-test
	$(VENV)/bin/mypy

imports: setup-test
	$(VENV)/bin/lint-imports

# The gate is deterministic: hypothesis runs its derandomized "ci" profile (tests/conftest.py).
pytest: setup-test
	HYPOTHESIS_PROFILE=$${HYPOTHESIS_PROFILE:-ci} $(PY) -m pytest -m "not slow and not gpu" $(PYTEST_ARGS)

test-random: setup-test
	HYPOTHESIS_PROFILE=random $(PY) -m pytest -m "not slow and not gpu" $(or $(PYTEST_ARGS),tests/unit)

bandit: setup-test
	bash infra/security.sh bandit

audit: setup-test
	bash infra/security.sh audit

fuzz: setup-test
	bash infra/security.sh fuzz

security: bandit audit

checkov:
	bash infra/checkov.sh

test: lint typecheck imports bandit checkov pytest

clean:
	rm -rf $(VENV) .soul-data test-artifacts
