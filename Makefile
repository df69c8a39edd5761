# The front door: `make run` starts the demo, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WEB_PORT ?= 8000
# Local runs use development settings; production sets DJANGO_DEBUG=0 and a secret key.
export DJANGO_DEBUG ?= 1

.PHONY: install run test lint format migrations-check messages bench clean

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

# pytest-xdist: one worker per CPU, each with its own test database and cache key prefix, a
# test file's tests kept together in one worker. `make test TEST_WORKERS=0` runs them in one process.
TEST_WORKERS ?= auto

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile

# The guest languages' catalogues (locale/<lang>/LC_MESSAGES/django.po), after marking strings:
# extracts them, then compiles the .mo files, which are committed so no install needs gettext.
# Needs GNU gettext (xgettext, msgfmt: `apt-get install gettext`).
MESSAGE_DIRS := --ignore='.venv/*' --ignore='var/*' --ignore='tests/*' --ignore='bench/*' --ignore='simulator/*' --ignore='docs/*'
messages: install
	$(PY) manage.py makemessages --no-obsolete --add-location=file $(MESSAGE_DIRS) -l pt -l es -l fr -l de
	$(PY) manage.py compilemessages $(MESSAGE_DIRS)

# Needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL: the server and db number of `.ci/run` by
# default); creates and drops its own database `oracode_bench`. See docs/benchmarks.md.
bench: $(VENV)/.bench-installed
	$(PY) bench/run.py

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --build-constraint build-constraints.txt -r requirements-bench.txt
	@touch $@

clean:
	rm -rf var/celery var/cache var/mail var/celerybeat-schedule*
