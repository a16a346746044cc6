# Switchboard: `make run` starts everything on embedded defaults; `make test` runs the suite.
# Every target installs what it needs first, and only when its inputs changed.

SHELL := /bin/bash
.DEFAULT_GOAL := run

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
RASA_VENV := .venv-rasa
APP_PY := $(VENV)/bin/python
RASA := $(RASA_VENV)/bin/rasa
MODEL := var/models/switchboard.tar.gz
RASA_DATA := training_data/nlu.yml training_data/rules.yml training_data/stories.yml \
  training_data/orders_nlu.yml training_data/orders_dialogue.yml
TRAINING_INPUTS := bot/config.yml bot/domain.yml $(wildcard bot/nlu/*.py) $(RASA_DATA)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PIP_FLAGS := --disable-pip-version-check --no-input
# Installed on its own, before everything else, so pip never picks a CUDA build.
TORCH_VERSION := 2.13.0

export HF_HUB_OFFLINE := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: run test lint bench-turns bench-knowledge bench-nlu model deps browser mail-servers check-python lock clean

run: deps $(MODEL)
	$(APP_PY) -m gateway up

test: deps $(MODEL) browser mail-servers
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(APP_PY) -m pytest; status=$$?; \
	  if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$status

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench-turns: deps $(MODEL)
	$(APP_PY) -m bench.turns

bench-knowledge: deps
	$(APP_PY) -m bench.knowledge

model: $(MODEL)

deps: $(VENV)/.installed $(RASA_VENV)/.installed

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' || \
	  { echo "Switchboard needs Python 3.11 (found: $$($(PYTHON) --version 2>&1)); set PYTHON=/path/to/python3.11"; exit 1; }

$(VENV)/.installed: requirements/app.txt | check-python
	test -x $(APP_PY) || $(PYTHON) -m venv $(VENV)
	$(APP_PY) -m pip install $(PIP_FLAGS) -q pip==24.3.1
	$(APP_PY) -m pip install $(PIP_FLAGS) -q torch==$(TORCH_VERSION)
	$(APP_PY) -m pip install $(PIP_FLAGS) -q -r requirements/app.txt
	touch $@

# Rasa 3.6 declares Python < 3.11: its dependencies are installed from a pinned list
# resolved for 3.11, then Rasa itself without its metadata check (see docs/rasa-environment.md).
$(RASA_VENV)/.installed: requirements/rasa-deps.txt requirements/rasa.txt | check-python
	test -x $(RASA_VENV)/bin/python || $(PYTHON) -m venv $(RASA_VENV)
	$(RASA_VENV)/bin/python -m pip install $(PIP_FLAGS) -q pip==24.3.1
	$(RASA_VENV)/bin/python -m pip install $(PIP_FLAGS) -q --no-deps -r requirements/rasa-deps.txt
	$(RASA_VENV)/bin/python -m pip install $(PIP_FLAGS) -q --no-deps --ignore-requires-python -r requirements/rasa.txt
	touch $@

# Trained only when the Rasa project or its training data changed.
$(MODEL): $(TRAINING_INPUTS) | $(RASA_VENV)/.installed
	mkdir -p var/models
	$(RASA) train --quiet --domain bot/domain.yml --config bot/config.yml --data $(RASA_DATA) \
	  --out var/models --fixed-model-name switchboard
	touch $@

# Browser tests drive Debian's chromium.
browser:
	@command -v chromium >/dev/null || { \
	  echo "Installing Debian's chromium for the browser tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# torch stays pinned as torch==$(TORCH_VERSION) (not the local +cpu tag), listed before
# sentence-transformers.
lock: $(VENV)/.installed
	$(APP_PY) -m pip install $(PIP_FLAGS) -q -r requirements/app.in
	$(APP_PY) -m pip freeze --exclude-editable | grep -v '^torch==' \
	  | sed 's/^sentence-transformers==/torch==$(TORCH_VERSION)\nsentence-transformers==/' \
	  > requirements/app.txt

clean:
	rm -rf var/models var/log

# Inbound webhook throughput of the messenger channels (no Rasa), SQLite and PostgreSQL.
.PHONY: bench-channels
bench-channels: $(VENV)/.installed
	$(APP_PY) -m bench.channels
# The email tests start a private Dovecot IMAP server (their own config, port and mail store).
mail-servers:
	@command -v dovecot >/dev/null || test -x /usr/sbin/dovecot || { \
	  echo "Installing Debian's dovecot-imapd for the email tests"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq dovecot-imapd >/dev/null; }
# Cross-validated intent and entity F1 of the training data (3 folds: about 10 minutes;
# FOLDS=5, Rasa's own default, about 20).
FOLDS ?= 3
bench-nlu: deps
	$(APP_PY) -m bench.nlu --folds $(FOLDS)
# 20 agents race for 200 queued conversations through 2 gateway processes on PostgreSQL
# (TEST_POSTGRES_URL); claims/s, p99 claim latency, double assignments.
.PHONY: bench-handoff
bench-handoff: $(VENV)/.installed
	$(APP_PY) -m bench.handoff
