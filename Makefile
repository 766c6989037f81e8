# The two commands a fresh machine needs: `make run` and `make test`.
# Both create .venv and install what is missing; nothing else is required.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -U pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	@$(BIN)/waystation migrate
	@echo ""
	@echo "  Waystation is starting on http://127.0.0.1:8000  (SQLite in ./var, no Redis needed)"
	@echo "  Get an API key:   $(BIN)/waystation keys create --name me"
	@echo "  Operator key:     $(BIN)/waystation keys create --name ops --admin   (for /api/v1)"
	@echo "  First call:       the built-in 'demo' channel answers model 'demo-1' locally, e.g."
	@echo "    curl http://127.0.0.1:8000/v1/chat/completions -H \"Authorization: Bearer <key>\" \\"
	@echo "      -H 'content-type: application/json' -d '{\"model\":\"demo-1\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}'"
	@echo ""
	@$(BIN)/waystation serve

test: $(STAMP)
	$(BIN)/python -m pytest
	$(BIN)/ruff check app tests

# The benchmark (bench/README.md): ~7 minutes, everything on 127.0.0.1, results in bench/RESULTS.md.
# Needs wrk (installed with apt-get when missing); py-spy (PyPI, for the profile) is added to the venv.
# Options: make bench BENCH_ARGS="--duration 5 --scenarios latency,throughput --backends embedded"
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
bench: $(STAMP)
	@command -v wrk >/dev/null || { echo "bench: wrk is missing; installing it: $(SUDO) apt-get install -y wrk"; \
	  $(SUDO) apt-get install -y -qq wrk >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq wrk; } \
	  || { echo "bench: could not install wrk; install it (Debian/Ubuntu package 'wrk') and retry"; exit 2; }; }
	@test -x $(BIN)/py-spy || $(BIN)/python -m pip install -q --disable-pip-version-check py-spy \
	  || echo "bench: py-spy could not be installed; the profile section will be skipped"
	$(BIN)/python -m bench.run $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app tests

clean:
	rm -rf $(VENV) var .pytest_cache
