# Two commands matter: `make run` (the app on SQLite with demo data) and `make test`
# (every check). Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint typecheck migrations-check pytest security deploy-check bench openapi clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed-runtime

run: $(VENV)/.installed-runtime
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	# The enrolment links the demo seed prints for the staff accounts point at this server.
	DEBUG=true SITE_URL=http://$(HOST):$(PORT) $(BIN)/python manage.py seed --demo
	@echo "Serving on http://$(HOST):$(PORT)/ with a worker sending its mail to this console (Ctrl+C stops both)"
	DEBUG=true $(BIN)/python manage.py run_worker --no-reload & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	DEBUG=true $(BIN)/python manage.py runserver $(HOST):$(PORT)

# flake8; then the import contracts in setup.cfg (the apps depend one way, docs/architecture.md);
# then the GitHub workflow, with shellcheck on its `run:` steps when shellcheck is on PATH.
lint: $(VENV)/.installed-dev
	$(BIN)/flake8
	$(BIN)/lint-imports --no-cache
	$(BIN)/actionlint .github/workflows/*.yml

typecheck: $(VENV)/.installed-dev
	DEBUG=true $(BIN)/mypy .

migrations-check: $(VENV)/.installed-dev
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run

pytest: $(VENV)/.installed-dev
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest $(PYTEST_ARGS)
	$(BIN)/coverage report
	$(BIN)/coverage html --quiet
	$(BIN)/coverage xml --quiet

test: lint typecheck migrations-check pytest

# docs/openapi.yaml from the code (tests/api/test_schema.py fails while the two differ).
openapi: $(VENV)/.installed-runtime
	DEBUG=true $(BIN)/python manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

# The load benchmark (docs/performance.md): N incidents in PostgreSQL, gunicorn as deployed,
# wrk's 8 readers, one per signed-in person, reading at random while forms are posted
# (needs `apt-get install wrk`), with cache and sessions in the local Redis as render.yaml deploys them.
# `make bench N=10000` for a quick run; BENCH_ARGS="--redis-url=" for the database cache instead,
# "--pages" for each page's own URL repeated.
N ?= 1000000
bench: $(VENV)/.installed-runtime
	$(BIN)/python -m tests.bench.run --incidents $(N) $(BENCH_ARGS)

# The security suite alone (it is part of `make test` too), for a quick look after a change.
security: $(VENV)/.installed-dev
	$(BIN)/pytest tests/security $(PYTEST_ARGS)

# What a deployment runs, with the production settings from the environment (DEBUG off,
# SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL): refuses on any warning or missing migration.
deploy-check: $(VENV)/.installed-runtime
	$(BIN)/python manage.py check --deploy --fail-level WARNING
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python -c "import incident_tracker.wsgi"
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0

clean:
	rm -rf $(VENV) .coverage htmlcov coverage.xml .mypy_cache staticfiles
