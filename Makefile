# Downstream: `make run` starts the platform, `make test` runs the tests. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTEST_ARGS ?=

.PHONY: run test lint bench gpu-check install install-dev migrate clean

# A development machine: manage.py, the web server and the workers fall back to platform_.settings.local (with the
# demo shop) when DJANGO_SETTINGS_MODULE is unset. Elsewhere they refuse to guess (platform_/environment.py).
run migrate lint: export DOWNSTREAM_DEV := 1

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files: pip runs again only when a requirements file changes.
$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -r requirements-dev.txt
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

## run: install, migrate, create the demo logins, seed demo data, train first models, start web + workers + beat
run: migrate
	$(PY) manage.py bootstrap_demo
	$(PY) manage.py runplatform

## test: the whole suite (real PostgreSQL, Redis, Celery worker and chromium where available)
test: install-dev
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run

## bench: benchmarks under tests/benchmarks/, results written to docs/benchmarks.md
bench: install-dev
	$(PY) tests/benchmarks/platform_overhead.py
	$(PY) tests/benchmarks/traffic.py
	$(PY) tests/benchmarks/traffic_selftrain.py
	$(PY) tests/benchmarks/commerce_ingest.py
	$(PY) tests/benchmarks/recommendations.py
	$(PY) tests/benchmarks/recommendations_serving.py
	$(PY) tests/benchmarks/inspection.py
	$(PY) tests/benchmarks/inspection_line.py
	$(PY) tests/benchmarks/chatbot.py
	$(PY) tests/benchmarks/chat_load.py
	$(PY) tests/benchmarks/chat_dialogues.py
	$(PY) tests/benchmarks/scale.py --products

## gpu-check: train the demo family through the real task code on cuda (run on a GPU host)
gpu-check: install-dev
	ML_DEVICE=cuda $(PY) tests/benchmarks/gpu_check.py

clean:
	rm -rf var/test var/celery
