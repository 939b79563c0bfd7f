# Two commands on a fresh machine: `make run` serves, `make test` tests.
# Everything is installed into .venv by the project itself.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard protos/invoicing/v1/*.proto)

NODE_STAMP := node_modules/.installed

.PHONY: run test test-reliability test-pgbouncer test-partitioned pgbouncer install generate check-generated lint \
	lint-proto breaking clients typecheck bench bench-quick profiles clean-data help debian-tools sample-document \
	go-tools

help:
	@echo "make run              serve on 127.0.0.1:50051 with an embedded PostgreSQL and demo data"
	@echo "make test             lint, type-check, check generated code, run the whole test suite"
	@echo "make test-reliability the slower failure and overload drills (kill -9, the wheel, stuck readers...)"
	@echo "make test-pgbouncer   the test suite again, through a real PgBouncer in transaction pooling mode"
	@echo "make test-partitioned the test suite again, on the schema hash-partitioned by account (as Citus would)"
	@echo "make generate         regenerate generated/ from protos/"
	@echo "make check-generated  fail if generated/ is stale"
	@echo "make bench            every SPEC 11 row beside its anchor (seeds up to 2M invoices; about 30 min)"
	@echo "make bench-quick      the headline rows on smaller sets (under 3 min)"
	@echo "make profiles         py-spy flame graphs of GetInvoice and ListInvoices (TAG=after for -after.svg)"
	@echo "make lint-proto       buf lint on protos/"
	@echo "make breaking         buf breaking: protos/ against the main branch"
	@echo "make sample-document  re-render docs/invoice-sample.* and docs/credit-note-sample.* (the README's samples)"
	@echo "make clients          generate Go, Python and TypeScript clients into clients/"
	@echo "make go-tools         install the Go client toolchain from Debian when missing"

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Node tooling for the contract (buf) and the non-Python client test, pinned by package-lock.json.
# `npm ci` installs exactly the lock file and never rewrites it.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Debian tools the tests and the bench use: pdftoppm (poppler-utils) renders document pages to images,
# h2load (nghttp2-client) is the bench's unary load generator.
debian-tools:
	@command -v pdftoppm >/dev/null || (apt-get update -qq && apt-get install -y -qq poppler-utils >/dev/null)
	@command -v h2load >/dev/null || (apt-get update -qq && apt-get install -y -qq nghttp2-client >/dev/null)

# Re-render the README's sample invoice (docs/invoice-sample.pdf and .png) after a layout change.
sample-document: $(STAMP) debian-tools
	$(PY) tools/sample_document.py

# The Go client toolchain from Debian (Go, grpc-go and its dependencies under /usr/share/gocode, protoc and
# the Go plugins), installed only when something is missing. Go builds in GOPATH mode against these
# packages, so nothing is fetched from a module proxy. protoc-gen-go writes code for the v2 protobuf API,
# so golang/protobuf 1.5 (built on it) is installed in place of grpc-go's default 1.3.
GO_TOOLS := /usr/bin/go /usr/bin/protoc /usr/bin/protoc-gen-go /usr/bin/protoc-gen-go-grpc \
	/usr/share/gocode/src/google.golang.org/grpc/go.mod /usr/share/gocode/src/google.golang.org/protobuf/go.mod \
	/usr/share/gocode/src/github.com/golang/protobuf/proto/wrappers.go
GO_PACKAGES := golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev golang-google-protobuf-dev \
	protoc-gen-go protoc-gen-go-grpc protobuf-compiler

go-tools:
	@for f in $(GO_TOOLS); do test -e $$f || missing=1; done; \
	if [ -n "$$missing" ]; then \
		echo "installing the Go client toolchain (Debian: $(GO_PACKAGES))"; \
		log=$$(mktemp); \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $(GO_PACKAGES); } >$$log 2>&1 \
			|| { cat $$log; rm -f $$log; exit 1; }; \
		rm -f $$log; \
	fi

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

# Client code for other teams under clients/ (git-ignored): Go (module clients/go, at the go_package path)
# and Python via buf generate (buf.gen.yaml, local plugins only), TypeScript types for @grpc/grpc-js with
# the google.rpc error details.
clients: $(STAMP) $(NODE_STAMP) go-tools
	rm -rf clients/go/invoicing clients/python clients/typescript
	node_modules/.bin/buf generate
	mkdir -p clients/typescript
	node_modules/.bin/proto-loader-gen-types --keepCase --longs=String --enums=String --defaults \
		-I protos -I third_party/googleapis -O clients/typescript --grpcLib=@grpc/grpc-js \
		$(patsubst protos/%,%,$(PROTOS)) google/rpc/status.proto google/rpc/error_details.proto

# PgBouncer (Debian package) for the transaction pooling tests; installed when missing.
pgbouncer:
	@command -v pgbouncer >/dev/null 2>&1 || test -x /usr/sbin/pgbouncer || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null; }

test: $(STAMP) $(NODE_STAMP) pgbouncer debian-tools check-generated lint lint-proto typecheck
	$(PY) -m pytest -q

# The drills marked `reliability` (make test leaves them out: they take minutes); CI runs them.
test-reliability: $(STAMP) $(NODE_STAMP) pgbouncer
	$(PY) -m pytest -q -m reliability

# The default suite with the session server behind a real PgBouncer (transaction pooling); CI runs it.
test-pgbouncer: $(STAMP) $(NODE_STAMP) pgbouncer
	INVOICING_TEST_PGBOUNCER=1 $(PY) -m pytest -q

# The default suite on the schema with every account-scoped table hash-partitioned by account_id (the rule a
# distributed database sets: every key leads with account_id); CI runs it.
test-partitioned: $(STAMP) $(NODE_STAMP) pgbouncer debian-tools
	INVOICING_TEST_PARTITIONS=8 $(PY) -m pytest -q

# The bench (bench/__main__.py): results in bench/results/latest.json; `python -m bench.report` prints them as
# the README's table. py-spy comes with the dev dependencies.
bench: $(STAMP) debian-tools
	$(PY) -m bench

bench-quick: $(STAMP) debian-tools
	$(PY) -m bench --quick

TAG ?= before
profiles: $(STAMP) debian-tools
	$(PY) -m bench.profiles --tag $(TAG)

clean-data:
	rm -rf .data
