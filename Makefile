# Two commands on a fresh machine: `make run` serves, `make test` tests.
# Everything is installed into .venv by the project itself.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard protos/invoicing/v1/*.proto)

NODE_STAMP := node_modules/.installed

.PHONY: run test test-reliability test-pgbouncer pgbouncer install generate check-generated lint lint-proto breaking clients typecheck bench clean-data help

help:
	@echo "make run              serve on 127.0.0.1:50051 with an embedded PostgreSQL and demo data"
	@echo "make test             lint, type-check, check generated code, run the whole test suite"
	@echo "make test-reliability the slower failure and overload drills (kill -9, the wheel, stuck readers...)"
	@echo "make test-pgbouncer   the test suite again, through a real PgBouncer in transaction pooling mode"
	@echo "make generate         regenerate generated/ from protos/"
	@echo "make check-generated  fail if generated/ is stale"
	@echo "make bench            run the benchmarks"
	@echo "make lint-proto       buf lint on protos/"
	@echo "make breaking         buf breaking: protos/ against the main branch"
	@echo "make clients          generate TypeScript client types into clients/typescript/"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Node tooling for the contract (buf) and the non-Python client test, pinned by package-lock.json.
$(NODE_STAMP): package.json package-lock.json
	npm install --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

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

lint-proto: $(NODE_STAMP)
	node_modules/.bin/buf lint

breaking: $(NODE_STAMP)
	node_modules/.bin/buf breaking --against '.git#branch=main'

clients: $(NODE_STAMP)
	mkdir -p clients/typescript
	node_modules/.bin/proto-loader-gen-types --keepCase --longs=String --enums=String --defaults \
		-I protos -I third_party/googleapis -O clients/typescript --grpcLib=@grpc/grpc-js \
		$(patsubst protos/%,%,$(PROTOS))

# PgBouncer (Debian package) for the transaction pooling tests; installed when missing.
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }

test: $(STAMP) $(NODE_STAMP) pgbouncer check-generated lint lint-proto typecheck
	$(PY) -m pytest -q

# The drills marked `reliability` (make test leaves them out: they take minutes); CI runs them.
test-reliability: $(STAMP) $(NODE_STAMP) pgbouncer
	$(PY) -m pytest -q -m reliability

# The default suite with the session server behind a real PgBouncer (transaction pooling); CI runs it.
test-pgbouncer: $(STAMP) $(NODE_STAMP) pgbouncer
	INVOICING_TEST_PGBOUNCER=1 $(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m bench

clean-data:
	rm -rf .data
