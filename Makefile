# Two commands on a fresh clone: `make demo` and `make test`.
# Needs only python3 and make (and node/npm for the peer tests).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-test
DEMO_STAMP := $(VENV)/.installed
NODE_DIR   := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: demo test lint typecheck pytest node proxy services bench pywebpush-suite mutate clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The package alone (what `make demo` needs): no test extras.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test,celery]'
	touch $@ $(DEMO_STAMP)

# node's web-push and the web-push-testing service: independent peers, test-only.
# Skipped (and the tests that need them skip, saying so) only where node/npm are absent.
$(NODE_STAMP): $(NODE_DIR)/package.json
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		cd $(NODE_DIR) && npm install --no-audit --no-fund --no-package-lock --loglevel=error && touch node_modules/.installed; \
	else \
		echo "node/npm not found: the node peer tests will be skipped"; \
	fi

node: $(NODE_STAMP)

# tinyproxy (Debian): the real forward proxy tests/test_proxy.py goes through.
# Installed only when missing, as root with apt-get, in at most 5 minutes; the
# package's own service is left stopped (the tests start their own on 127.0.0.1).
# Where it cannot be had the proxy tests skip, except with CI=true, where they fail.
proxy:
	@if ! command -v tinyproxy >/dev/null 2>&1 && [ ! -x /usr/bin/tinyproxy ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing tinyproxy (apt-get) for the proxy tests"; \
			timeout 300 sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends tinyproxy >/dev/null' \
				|| echo "tinyproxy could not be installed: the proxy tests will fail with CI=true, skip otherwise"; \
			(command -v systemctl >/dev/null 2>&1 && systemctl disable --now tinyproxy) >/dev/null 2>&1 || true; \
		else \
			echo "tinyproxy not found (install it, or run as root): the proxy tests will be skipped"; \
		fi; \
	fi

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

demo: $(DEMO_STAMP)
	$(BIN)/python -m webpush_core demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples tools
	$(BIN)/ruff format --check src

typecheck: $(STAMP)
	$(BIN)/mypy --strict src examples

# Four pytest workers (pytest-xdist), each running whole modules: on two cores,
# because the tests spend about half their time waiting (on sockets, timers,
# child processes). The modules that start real components run in three groups
# (Redis and Celery; pip's venvs; tinyproxy, node and the local service), each
# in one worker, one module at a time (tests/conftest.py). Then the tests that
# measure isolation by the clock (marked timed), alone on the machine: their
# ratios and bounds must not depend on what another worker runs.
# PYTEST_WORKERS=0: no workers, one process as before.
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set: the suite starts
# hundreds of Pythons (helper and sender processes, the CLI, Celery workers),
# and each would compile the package again.
PYTEST_WORKERS ?= 4
pytest: $(STAMP) node proxy services
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile -m "not timed"
	PYTHONDONTWRITEBYTECODE= $(BIN)/python -m pytest -n 0 -m timed

test: lint typecheck pytest

BENCH_STAMP := $(VENV)/.installed-bench
$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[bench]'
	touch $@

# Not part of `make test`. BENCH_ARGS=--quick for a ~20 s smoke run.
bench: $(STAMP) $(BENCH_STAMP) node
	$(BIN)/python -m benchmarks --readme $(BENCH_ARGS)

MUTATE_STAMP := $(VENV)/.installed-mutate
$(MUTATE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[mutate]'
	touch $@

# Mutation testing (tools/mutation_gate.py): not part of `make test` or CI.
# MUTATE_ARGS: module names (default: all), --resume, --files. MUTATE_CHILDREN:
# mutants tested at once (default 2, one per core here; 1 leaves a core free).
MUTATE_CHILDREN ?= 2
mutate: $(STAMP) $(MUTATE_STAMP) node proxy
	MUTATE_CHILDREN=$(MUTATE_CHILDREN) $(BIN)/python tools/mutation_gate.py $(MUTATE_ARGS)

# Not part of `make test` (it downloads pywebpush's sdist from the package index):
# pywebpush 2.5.0's own tests/test_webpush.py run against webpush_core (tools/pywebpush_suite.py).
pywebpush-suite: $(STAMP)
	$(BIN)/python tools/pywebpush_suite.py

clean:
	rm -rf $(VENV) $(NODE_DIR)/node_modules .mypy_cache .ruff_cache .pytest_cache mutants
