# The two commands a new user needs: `make run` and `make test`.
# Both create the project's virtualenv (.venv) on first use.

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench-ingest bench-timeline clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $(STAMP)

## Load the demo data into ./rulelog.db (SQLite), show it, make a token for its admin
## ("demo"), and serve the update routes, the admin API and the web console on
## 127.0.0.1:8000 (one process: `rulelog serve all`).
run: $(STAMP)
	$(VENV)/bin/rulelog demo
	@echo "Web console: http://127.0.0.1:8000/ui/rules -- sign in with the demo admin's token:"
	@$(VENV)/bin/rulelog tokens create demo --as demo --label "make run"
	$(VENV)/bin/rulelog serve all --host 127.0.0.1 --port 8000

## Lint, then the whole test suite (unit, integration on SQLite and PostgreSQL, e2e).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

## Import and update throughput next to bare eventsourcing (see bench/README.md).
bench-ingest: $(STAMP)
	$(VENV)/bin/python bench/ingest.py

## The state at past positions and rebuilds next to reading the log, 100k and 1M events
## (see bench/README.md; the generated logs are cached in bench/.cache/).
bench-timeline: $(STAMP)
	$(VENV)/bin/python bench/timeline.py

clean:
	rm -rf $(VENV) rulelog.db rulelog.db-*
