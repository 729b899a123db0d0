# `make demo` and `make test` set everything up themselves on a fresh Debian machine.
VENV   ?= .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
ENV    ?= drills/environments/local.yaml
PYTEST ?= -q

.PHONY: setup system-packages demo test unit integration fuzz bench bench-gpu clean

MITMDUMP := $(VENV)/mitmproxy/bin/mitmdump

setup: system-packages $(STAMP) $(MITMDUMP)

# HAProxy, Prometheus (with promtool) and Alertmanager are Debian packages; installed only when missing.
SYSTEM_PACKAGES := haproxy prometheus prometheus-alertmanager
system-packages:
	@if ! command -v haproxy >/dev/null || ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null \
	    || ! command -v prometheus-alertmanager >/dev/null; then \
	  echo "installing $(SYSTEM_PACKAGES) (Debian packages)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q $(SYSTEM_PACKAGES) >/dev/null; }; \
	fi

# torch==2.13.0 first: it is a CPU build already on disk; a bare `torch` requirement
# would download a multi-GB CUDA build.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

# mitmproxy reads its own flow files for `drillkit traffic import`. It lives in a venv of its
# own inside drillkit's: its pins (cryptography, h11, Flask) conflict with Locust's and boto3's.
$(MITMDUMP):
	python3 -m venv $(VENV)/mitmproxy
	$(VENV)/mitmproxy/bin/python -m pip install -q mitmproxy==11.0.2

# The main job: a region-outage drill on the embedded environment (brought up and down by
# the drill itself), ending with the verdict and the path of the PDF.
DRILL ?= drills/region-outage.yaml
demo: setup
	$(BIN)/drillkit run $(DRILL)

test: setup
	$(PY) -m pytest $(PYTEST)

unit: setup
	$(PY) -m pytest $(PYTEST) tests/unit

integration: setup
	$(PY) -m pytest $(PYTEST) tests/integration

# The fuzz suite with many more examples than `make test` runs (profile "long",
# tests/fuzz/conftest.py), then the bad-input sweep through the CLI and its table.
fuzz: setup
	DRILLKIT_FUZZ_PROFILE=long $(PY) -m pytest $(PYTEST) tests/fuzz
	$(PY) -m tests.fuzz.sweep

bench: setup
	PYTHONUNBUFFERED=1 $(PY) -m tests.benchmarks.bench_stack
	PYTHONUNBUFFERED=1 $(PY) -m tests.benchmarks.bench_load
	PYTHONUNBUFFERED=1 $(PY) -m tests.benchmarks.bench_report
	PYTHONUNBUFFERED=1 $(PY) -m tests.benchmarks.bench_backup
	PYTHONUNBUFFERED=1 $(PY) -m tests.benchmarks.bench_gateway
	PYTHONUNBUFFERED=1 $(PY) -m tests.benchmarks.bench_capacity

# One Triton node under rising open-loop load, GPU when present (README: "GPU machine").
# BENCH_GPU_ARGS passes options (e.g. --items 50000 --rates 100,200,400 on a CPU box); on a
# machine without a package registry: make bench-gpu NO_SETUP=1 PY=/tmp/gpuenv/bin/python
bench-gpu: $(if $(NO_SETUP),,setup)
	PYTHONUNBUFFERED=1 $(PY) -m tests.benchmarks.bench_gpu $(BENCH_GPU_ARGS)

clean:
	rm -rf $(VENV) .drillkit .pytest_cache
