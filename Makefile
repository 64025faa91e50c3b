# RegPortal. `make run` and `make test` are all a new machine needs (Python 3.11 + make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8080
export FLASK_APP := run

.PHONY: run worker test lint i18n catalogs setup bench bench-export bench-import clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

catalogs: $(STAMP)
	$(BIN)/pybabel compile --statistics -d translations 2>&1 | grep -v "^$$" || true
	@test -f translations/zh/LC_MESSAGES/messages.mo

setup: catalogs
	$(BIN)/flask regportal setup

# The web server and, beside it, the background-job consumer (Huey: large exports, imports,
# bundles, periodic housekeeping); stopping `make run` (Ctrl-C) stops both.
run: setup
	@$(BIN)/flask regportal worker & worker=$$!; \
	trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

# The consumer alone (a deployment runs it beside gunicorn; several with REDIS_URL).
worker: setup
	$(BIN)/flask regportal worker

lint: $(STAMP)
	$(BIN)/ruff check .

test: catalogs lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Extract every marked string, merge into zh and en, compile. pybabel is called directly
# (flask fab babel-extract swallows its failures).
i18n: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l -k gettext -k ngettext:1,2 \
		--no-location --sort-output -o translations/messages.pot .
	$(BIN)/pybabel update -N -i translations/messages.pot -d translations --no-wrap
	$(BIN)/pybabel compile -d translations

# Each bench seeds its own fresh database under a temporary instance (or DATABASE_URL).
bench: setup
	$(BIN)/python -m bench
	$(BIN)/python -m bench.rental
	$(BIN)/python -m bench.pdf
	$(BIN)/python -m bench.export
	$(BIN)/python -m bench.usedcar
	$(BIN)/python -m bench.usedcar_reports
	$(BIN)/python -m bench.licence
	$(BIN)/python -m bench.xlsx_import

bench-export: $(STAMP)
	$(BIN)/python -m bench.export

bench-import: catalogs
	$(BIN)/python -m bench.xlsx_import

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
