# spanwatch: `make demo` and `make test` set up everything on a bare Debian 12 machine.
# Both are idempotent: system packages and the venv are only touched when missing or stale.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := suricata suricata-update tshark iproute2 sqlite3 python3-venv python3-dev \
	ca-certificates systemd nodejs npm ieee-data \
	libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core fonts-noto-core poppler-utils \
	chromium
STAMP := $(VENV)/.installed
DEMO_DIR ?= var/demo
DEMO_WEB ?= 1
DEMO_PORT ?= 8443
PYTEST_ARGS ?=

INSTALL_PYTHON ?= /usr/bin/python3
PREFIX ?= /opt/spanwatch
ETC_DIR ?= /etc/spanwatch
STATE_DIR ?= /var/lib/spanwatch
UNIT_DIR ?= /etc/systemd/system
UNITS := systemd/spanwatch-suricata@.service systemd/spanwatch-sensor@.service \
	systemd/spanwatch.target systemd/spanwatch-core.service systemd/spanwatch-web.service

.PHONY: all deps venv test lint demo bench install clean

all: test

# System packages: Suricata 7 from bookworm-backports (see DESIGN.md), tshark from main.
# Node.js and npm count as present when their commands are (e.g. a NodeSource nodejs,
# which bundles npm and conflicts with Debian's npm package).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		case $$p in nodejs|npm) command -v $$p >/dev/null && continue ;; esac; \
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

# Front-end assets of the web UI from the npm registry (webui/package-lock.json), into the
# git-ignored webui/node_modules; Flask serves them locally (no CDN on an air-gapped box).
WEBUI_ASSETS := webui/node_modules/.package-lock.json
$(WEBUI_ASSETS): webui/package.json webui/package-lock.json
	cd webui && npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# The editable install's modules compiled to bytecode, as pip compiles an installed
# package's (make install): a process that may not write __pycache__ (an environment with
# PYTHONDONTWRITEBYTECODE, a tree another user owns) would otherwise compile every module
# it imports, every run: 0.1 s of each `spanwatch analyze`. Stale files are recompiled.
venv: deps $(STAMP) $(WEBUI_ASSETS)
	@$(BIN)/python -m compileall -q appliance sensors webui >/dev/null

lint: venv
	$(BIN)/ruff check appliance sensors webui tests bench
	$(BIN)/mypy

test: venv lint
	$(BIN)/pytest -q $(PYTEST_ARGS)

demo: venv
	@mkdir -p $(DEMO_DIR)
	$(BIN)/spanwatch demo-capture $(DEMO_DIR)/demo.pcap
	$(BIN)/spanwatch analyze -q --data-dir $(DEMO_DIR) --rules config/rules $(DEMO_DIR)/demo.pcap
	@if [ "$(DEMO_WEB)" = 1 ]; then \
		echo; echo "Web UI: https://$$(hostname -f 2>/dev/null || hostname):$(DEMO_PORT)/ (self-signed certificate)."; \
		echo "First visit: enter the setup code printed below (also in $(DEMO_DIR)/web/setup-code),"; \
		echo "or create the admin first: $(BIN)/spanwatch user add admin --data-dir $(DEMO_DIR)"; \
		echo "Ctrl-C stops it; 'make demo DEMO_WEB=0' skips it."; echo; \
		exec $(BIN)/spanwatch web --data-dir $(DEMO_DIR) --bind 0.0.0.0:$(DEMO_PORT); \
	fi

bench: venv
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/analyze.py
	$(BIN)/python bench/detection.py
	$(BIN)/python bench/correlate.py
	$(BIN)/python bench/traffic.py

# A real appliance: users, /etc/spanwatch, /var/lib/spanwatch, /opt/spanwatch, units.
# /usr/bin/python3 on purpose: the service users must be able to read the interpreter.
install: deps $(WEBUI_ASSETS)
	getent group spanwatch >/dev/null || $(SUDO) groupadd --system spanwatch
	getent passwd spanwatch >/dev/null || $(SUDO) useradd --system --gid spanwatch \
		--home-dir $(STATE_DIR) --no-create-home --shell /usr/sbin/nologin \
		--comment "spanwatch sensor" spanwatch
	getent passwd spanwatch-suricata >/dev/null || $(SUDO) useradd --system --gid spanwatch \
		--home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin \
		--comment "spanwatch Suricata engine" spanwatch-suricata
	# The settings page writes appliance.yaml (atomically: a new file, then a rename), so the
	# folder and the file are the spanwatch group's to write; nobody else may read them.
	$(SUDO) install -d -m 0770 -o root -g spanwatch $(ETC_DIR)
	$(SUDO) install -d -m 0750 -o root -g spanwatch $(ETC_DIR)/rules
	[ -e $(ETC_DIR)/appliance.yaml ] || $(SUDO) install -m 0660 -o root -g spanwatch \
		config/appliance.example.yaml $(ETC_DIR)/appliance.yaml
	$(SUDO) install -m 0644 -o root -g root config/rules/local.rules $(ETC_DIR)/rules/local.rules
	$(SUDO) install -d -m 0770 -o spanwatch -g spanwatch $(STATE_DIR) $(STATE_DIR)/sensors
	[ -x $(PREFIX)/bin/python ] || $(SUDO) $(INSTALL_PYTHON) -m venv $(PREFIX)
	$(SUDO) $(PREFIX)/bin/pip install -q --upgrade pip
	$(SUDO) $(PREFIX)/bin/pip install -q .
	$(SUDO) rm -rf $(PREFIX)/share/webui-assets
	$(SUDO) install -d -m 0755 $(PREFIX)/share
	$(SUDO) cp -a webui/node_modules $(PREFIX)/share/webui-assets
	$(SUDO) install -d -m 0755 $(UNIT_DIR)
	$(SUDO) install -m 0644 $(UNITS) $(UNIT_DIR)/
	if [ -d /run/systemd/system ]; then $(SUDO) systemctl daemon-reload; \
	else echo "systemd is not running here: skipped systemctl daemon-reload."; fi

clean:
	rm -rf $(VENV) var build *.egg-info
