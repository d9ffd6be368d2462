# spanwatch: `make demo` and `make test` set up everything on a bare Debian 12 machine.
# Both are idempotent: system packages and the venv are only touched when missing or stale.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := suricata suricata-update tshark iproute2 sqlite3 python3-venv python3-dev \
	ca-certificates systemd
STAMP := $(VENV)/.installed
DEMO_DIR ?= var/demo
PYTEST_ARGS ?=

.PHONY: all deps venv test lint demo bench install clean

all: test

# System packages: Suricata 7 from bookworm-backports (see DESIGN.md), tshark from main.
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		$(SUDO) ./config/setup-apt.sh $$missing; \
	fi

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $@

venv: deps $(STAMP)

lint: venv
	$(BIN)/ruff check appliance sensors webui tests bench
	$(BIN)/mypy

test: venv lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

demo: venv
	@mkdir -p $(DEMO_DIR)
	$(BIN)/spanwatch demo-capture $(DEMO_DIR)/demo.pcap
	$(BIN)/spanwatch analyze -q --data-dir $(DEMO_DIR) --rules config/rules $(DEMO_DIR)/demo.pcap

bench: venv
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/analyze.py

clean:
	rm -rf $(VENV) var build *.egg-info
