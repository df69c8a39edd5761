# The front door: `make run` starts the demo, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WEB_PORT ?= 8000
# Local runs use development settings; production sets DJANGO_DEBUG=0 and a secret key.
export DJANGO_DEBUG ?= 1

.PHONY: install run test lint format migrations-check bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt build-constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25.3"
	$(PY) -m pip install --quiet --disable-pip-version-check --build-constraint build-constraints.txt -r requirements-dev.txt
	@touch $@

run: install
	$(PY) manage.py migrate --noinput
	WEB_PORT=$(WEB_PORT) $(VENV)/bin/honcho -f Procfile.dev start

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest

# Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL: the server and db number of `.ci/run` by
# default); creates and drops its own database `oracode_bench`. See docs/benchmarks.md.
bench: $(VENV)/.bench-installed
	$(PY) bench/run.py

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --build-constraint build-constraints.txt -r requirements-bench.txt
	@touch $@

clean:
	rm -rf var/celery var/cache var/mail var/celerybeat-schedule*
