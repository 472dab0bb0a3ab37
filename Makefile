# ThreatStryker — every target sets up what it needs on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
# Debian packages the tests drive for real: a Docker Engine, debootstrap, OCI tools, rpm, Go, Java, YARA.
APT_TEST_PACKAGES := docker.io debootstrap umoci skopeo rpm golang-go openjdk-17-jdk-headless ruby-rack ruby-nokogiri libruby3.1 ruby bundler php-cli composer yara

# Debian packages the benchmarks run as peers.
APT_BENCH_PACKAGES := lynis

.PHONY: run test bench lint venv system-deps bench-deps clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

venv: $(STAMP)

# Installs missing Debian packages (needs root, as on this project's machines); a no-op when present.
system-deps:
	@missing=""; for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v npm >/dev/null 2>&1 || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

bench-deps:
	@missing=""; for p in $(APT_BENCH_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# The vulnerability database `make run` uses, and the local feed copies it is built from when present
# (otherwise `threatstryker db update` downloads the default feeds).
DB ?= $(HOME)/.cache/threatstryker/vuln.db
DATA ?= $(or $(THREATSTRYKER_TEST_DATA),../shared/data)

## make run: the main job on the embedded default — until the console exists, a scan of this host with
## every scanner there is (packages, vulnerabilities, posture, secrets, malware), printing the findings. RUN_TIMEOUT
## bounds the whole scan (seconds; the result says "partial" when it ran out).
RUN_TIMEOUT ?= 600
run: $(STAMP)
	@test -f $(DB) || $(VENV)/bin/threatstryker db update $(if $(wildcard $(DATA)),--from $(DATA)) --db $(DB)
	$(VENV)/bin/threatstryker scan rootfs:/ --scanners sbom,vuln,posture,secret,malware --db $(DB) --timeout $(RUN_TIMEOUT)

## make test: sets everything up and runs the whole suite.
test: $(STAMP) system-deps
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src
	$(VENV)/bin/pytest -q

## make bench: side-by-side benchmarks against named peers (syft, trivy); not tests.
bench: $(STAMP) system-deps bench-deps
	$(PY) bench/sbom_bench.py
	$(PY) bench/vuln_bench.py
	$(PY) bench/secrets_bench.py
	$(PY) bench/malware_bench.py
	$(PY) bench/posture_bench.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy src

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
