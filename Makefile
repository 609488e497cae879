# coldwatch: the two set-up commands of the README, plus development helpers.
# Each target creates its own virtual environment in .venv and installs what it needs.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_SECONDS ?= 0
KEEP ?= 0

.PHONY: demo test test-deps browser-deps screenshots faults check lint typecheck bench clean

# Playwright drives Debian's chromium (/usr/bin/chromium); it never downloads a browser of its own
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "coldwatch needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

## demo: a simulated facility (Modbus, serial, MQTT) read by coldwatch into the embedded store,
## shown as a live table; starts from an empty data/demo unless KEEP=1 (DEMO_SECONDS=N stops it)
## (installs mosquitto for the MQTT device when run as root; without it the demo leaves MQTT out)
demo: $(STAMP)
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing mosquitto for the demo's MQTT device"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends mosquitto; } || echo "could not install mosquitto: the demo runs without MQTT"; \
	  else \
	    echo "mosquitto is not installed: the demo runs without its MQTT device (sudo apt-get install mosquitto)"; \
	  fi; }
	$(BIN)/coldwatch demo --data-dir ./data/demo $(if $(filter-out 0,$(DEMO_SECONDS)),--for $(DEMO_SECONDS)) \
	  $(if $(filter-out 0,$(KEEP)),--keep-data)

## test: lint, type-check and run the whole test suite (but the fault suite: `make faults`)
test: $(STAMP) test-deps browser-deps lint typecheck
	$(BIN)/python -m pytest -q -n 2 --durations=25 -m "not faults"

## faults: the fault suite (tests/faults): daemon kills, broker restarts... against real peers,
## one line per fault with readings lost, pages lost, pages duplicated and crashes
faults: $(STAMP) test-deps
	$(BIN)/python -m pytest -q -m faults tests/faults --durations=10

## test-deps: system packages the tests talk to (a real Mosquitto broker, its clients, openssl)
test-deps:
	@missing=""; \
	for tool in mosquitto:mosquitto mosquitto_pub:mosquitto-clients openssl:openssl; do \
	  cmd=$${tool%%:*}; pkg=$${tool#*:}; \
	  command -v $$cmd >/dev/null 2>&1 || [ -x /usr/sbin/$$cmd ] || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing test dependencies:$$missing"; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "please install:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

## browser-deps: Debian's chromium for the browser tests (tests/monitor/app/web/browser), installed
## as root with apt-get; elsewhere those tests skip with the reason, but never under CI=true
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing chromium for the browser tests"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        --no-install-recommends chromium; } || { \
	      echo "could not install chromium: the browser tests cannot run"; \
	      [ "$$CI" != true ] || exit 1; }; \
	  elif [ "$$CI" = true ]; then \
	    echo "chromium is missing and cannot be installed here (not root, or no apt-get): CI needs it"; exit 1; \
	  else \
	    echo "chromium is not installed: the browser tests skip (sudo apt-get install chromium)"; \
	  fi; }

## screenshots: PNGs of the console's pages at phone and wall-screen widths into docs/screenshots/
## (a real daemon and Debian's chromium; not part of `make test`)
screenshots: $(STAMP) browser-deps
	$(BIN)/python -m tests.support.screenshots docs/screenshots

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck

## bench: store ingest and Modbus poll cost beside the bare libraries (not part of the tests)
bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache data/demo
