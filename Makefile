# Developer and CI entry points. `make test` is what .ci/run runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
KAFKA_BOOTSTRAP_FILE := .services/kafka/bootstrap

.PHONY: venv demo services stop-services test lint

# Reinstalls only when pyproject.toml changes.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

demo: venv
	$(VENV)/bin/driftstream demo

services:
	scripts/prometheus.sh install
	scripts/kafka.sh fetch
	scripts/kafka.sh start

stop-services:
	scripts/kafka.sh stop

# The broker is stopped whatever pytest's outcome; make exits with pytest's exit code.
test: venv lint services
	trap 'scripts/kafka.sh stop' EXIT; \
	DRIFTSTREAM_KAFKA_BOOTSTRAP="$$(cat $(KAFKA_BOOTSTRAP_FILE))" $(VENV)/bin/pytest -q

# mypy cannot follow the editable install's import hook (driftstream.streamer -> streamer/):
# it reads the three folders through links under $(VENV)/lint/driftstream instead.
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	mkdir -p $(VENV)/lint/driftstream
	for d in streamer detectors sinks; do ln -sfn ../../../$$d $(VENV)/lint/driftstream/$$d; done
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
