# Asset Anchor: developer and operator commands. Needs only Python 3.11+ and
# make; everything else is installed into ./.tools (uv) and ./.venv.

PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synced

# Use the machine's Python; never download an interpreter.
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.DEFAULT_GOAL := help
.PHONY: help install run test lint format typecheck check db-upgrade db-downgrade \
	db-current openapi bench clean

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

install: $(STAMP) ## install the service and its development tools into .venv

run: $(STAMP) ## run API + worker locally (embedded PostgreSQL and Redis unless DATABASE_URL/REDIS_URL are set)
	$(BIN)/asset-anchor dev

test: $(STAMP) ## run the whole test suite (TEST_DATABASE_URL/TEST_REDIS_URL, else embedded servers)
	$(BIN)/pytest

lint: $(STAMP) ## ruff lint, format check and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP) ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: test lint ## everything CI runs

db-upgrade: $(STAMP) ## apply all migrations to DATABASE_URL
	$(BIN)/alembic upgrade head

db-downgrade: $(STAMP) ## roll DATABASE_URL back by one migration
	$(BIN)/alembic downgrade -1

db-current: $(STAMP) ## show the migration DATABASE_URL is at
	$(BIN)/alembic current

openapi: $(STAMP) ## rewrite docs/openapi.json from the code
	$(BIN)/python -m asset_anchor.openapi docs/openapi.json

bench: $(STAMP) ## run the benchmarks behind docs/PERFORMANCE.md
	$(BIN)/python benchmarks/health.py
	PYTHONPATH=. $(BIN)/python benchmarks/jobs.py
	PYTHONPATH=. $(BIN)/python benchmarks/auth.py
	PYTHONPATH=. $(BIN)/python benchmarks/rent.py
	PYTHONPATH=. $(BIN)/python benchmarks/portfolio.py
	PYTHONPATH=. $(BIN)/python benchmarks/webhooks.py

clean: ## remove installed tools and local data
	rm -rf $(TOOLS) $(VENV) .data .pytest_cache .mypy_cache .ruff_cache
