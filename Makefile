# Two commands on a fresh machine: `make run` serves, `make test` tests.
# Everything is installed into .venv by the project itself.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard protos/invoicing/v1/*.proto)

.PHONY: run test install generate check-generated lint typecheck bench clean-data help

help:
	@echo "make run              serve on 127.0.0.1:50051 with an embedded PostgreSQL and demo data"
	@echo "make test             lint, type-check, check generated code, run the whole test suite"
	@echo "make generate         regenerate generated/ from protos/"
	@echo "make check-generated  fail if generated/ is stale"
	@echo "make bench            run the benchmarks"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(PY) -m server serve --demo

generate: $(STAMP)
	$(PY) tools/codegen.py generate

check-generated: $(STAMP)
	$(PY) tools/codegen.py check

lint: $(STAMP)
	$(VENV)/bin/ruff check server tests bench tools
	$(VENV)/bin/ruff format --check server tests bench tools

typecheck: $(STAMP)
	$(VENV)/bin/mypy

test: $(STAMP) check-generated lint typecheck
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench

clean-data:
	rm -rf .data
