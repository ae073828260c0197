# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)

.PHONY: run test install migrate seed serve clean loadtest bench

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## make run: set up the embedded SQLite database, seed the demo study, serve on 127.0.0.1:8000
run: export DEBUG = 1
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

## make test: the whole suite (SQLite by default; DATABASE_URL selects PostgreSQL)
test: export SECRET_KEY ?= test-only-secret-key-not-for-production
test: $(STAMP)
	$(PY) -m pytest

## make loadtest: gunicorn + PostgreSQL, eight simulated clinicians for 60 s, fault test; writes loadtest/report.md
loadtest: $(STAMP)
	bash loadtest/run.sh

## make bench: page, report, export and memory benchmarks on PostgreSQL; writes bench/results.md
bench: $(STAMP)
	bash bench/run.sh

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
