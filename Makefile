# Developer and CI entry points. `make test` is what .ci/run runs.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

VENV := .venv
KAFKA_BOOTSTRAP_FILE := .services/kafka/bootstrap

.PHONY: venv demo services stop-services test lint

# Reinstalls only when pyproject.toml changes. `venv` (make test, make lint) installs the
# product and its test toolchain; `make demo` installs the product alone.
venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(VENV)/.installed-product $@

$(VENV)/.installed-product: pyproject.toml
	@echo "make demo [1/3]: installing driftstream and its runtime dependencies into $(VENV)/" \
		"(no test tools; once, until pyproject.toml changes) ..."
	@started=$$SECONDS; \
	test -x $(VENV)/bin/python || python3 -m venv $(VENV); \
	$(VENV)/bin/pip install --progress-bar off -e . | sed -un '/^\(Collecting\|Installing\|Successfully\)/p'; \
	echo "make demo [1/3]: installed in $$((SECONDS - started)) s"
	@touch $@

# numba compiles the kernels on first use and caches them beside their modules; this pays the
# compilation once, up front, and again only when a module changes (streamer/app/prepare.py).
KERNEL_SOURCES := $(shell find streamer detectors -name '*.py' 2>/dev/null)

$(VENV)/.kernels: $(VENV)/.installed-product $(KERNEL_SOURCES)
	@echo "make demo [2/3]: compiling the decoder's and the detectors' numba kernels (once) ..."
	@$(VENV)/bin/python -m driftstream.streamer.app.prepare kernels
	@touch $@

demo: $(VENV)/.installed-product $(VENV)/.kernels
	@echo "make demo [3/3]: $(VENV)/bin/driftstream demo"
	@$(VENV)/bin/driftstream demo

services:
	scripts/prometheus.sh install
	scripts/chromium.sh install
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
