# Two commands on a fresh clone: `make demo` and `make test`.
# Needs only python3 and make (and node/npm for the peer tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test
NODE_DIR   := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: demo test lint typecheck pytest node services bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,celery]'
	touch $@

# node's web-push and the web-push-testing service: independent peers, test-only.
# Skipped (and the tests that need them skip, saying so) only where node/npm are absent.
$(NODE_STAMP): $(NODE_DIR)/package.json
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		cd $(NODE_DIR) && npm install --no-audit --no-fund --no-package-lock --loglevel=error && touch node_modules/.installed; \
	else \
		echo "node/npm not found: the node peer tests will be skipped"; \
	fi

node: $(NODE_STAMP)

# redis-server for the Celery tests (tests/test_celery.py starts its own on a free
# loopback port). Installed from Debian's packages where missing and we are root;
# elsewhere those tests skip, saying why (in CI they fail instead).
services:
	@if ! command -v redis-server >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing redis-server (Debian package)"; \
			DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q -o DPkg::Lock::Timeout=120 redis-server >/dev/null \
			|| { timeout 300 apt-get update -q -o DPkg::Lock::Timeout=120 >/dev/null \
			     && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get install -y -q -o DPkg::Lock::Timeout=120 redis-server >/dev/null; } \
			|| echo "could not install redis-server: the Celery tests will not run"; \
		else \
			echo "redis-server not found (and not root): the Celery tests will be skipped"; \
		fi; \
	fi

demo: $(STAMP)
	$(BIN)/python -m webpush_core demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

pytest: $(STAMP) node services
	$(BIN)/python -m pytest

test: lint typecheck pytest

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[bench]'
	touch $@

# Not part of `make test`. BENCH_ARGS=--quick for a ~20 s smoke run.
bench: $(STAMP) $(BENCH_STAMP) node
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules .mypy_cache .ruff_cache .pytest_cache
