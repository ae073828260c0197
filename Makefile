# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cksum < requirements.txt | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.installed-dev-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)

.PHONY: run test install install-dev migrate seed serve clean loadtest bench messages validate

# The runtime packages only (make run, production).
$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-[0-9]*
	touch $(STAMP)

# The runtime packages plus the test, fuzzing and benchmark tools (make test, bench, loadtest).
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-dev-*
	touch $(DEV_STAMP)

install: $(STAMP)

install-dev: $(DEV_STAMP)

## make run: set up the embedded SQLite database, seed the demo study, serve on 127.0.0.1:8000
## with one background worker (db_worker, every queue) and the scheduler (run_schedules)
## beside the server; Ctrl+C (or the server's end) stops all three.
run: export DEBUG = 1
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	trap 'kill $$(jobs -p) 2>/dev/null; wait' EXIT INT TERM; \
	$(PY) manage.py db_worker --queue-name '*' --interval 1 --no-reload & \
	$(PY) manage.py run_schedules & \
	$(PY) manage.py runserver 127.0.0.1:8000

## make test: the whole suite (SQLite by default; DATABASE_URL selects PostgreSQL), on
## TEST_WORKERS processes (pytest-xdist; 2 by default, TEST_WORKERS=0 for one process)
TEST_WORKERS ?= 2
test: export SECRET_KEY ?= test-only-secret-key-not-for-production
test: $(DEV_STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS)

## make loadtest: gunicorn + PostgreSQL, eight simulated clinicians for 60 s, fault test; writes loadtest/report.md
loadtest: $(DEV_STAMP)
	bash loadtest/run.sh

## make bench: page, report, export and memory benchmarks on PostgreSQL; writes bench/results.md
bench: $(DEV_STAMP)
	bash bench/run.sh

## make validate: the validation pack (python -m validation): the installed system (database created
## if missing, migrated, static files collected, the app's role granted), installation qualification,
## the whole suite with JUnit XML (VALIDATE_PYTEST_ARGS narrows it), the last bench and loadtest
## results; writes validation/out/ (junit.xml, iq.json, report.html, report.pdf). Exits non-zero when
## a high-risk requirement lacks passing evidence or an installation check failed. The local
## PostgreSQL unless DATABASE_URL is set (then set APP_DATABASE_URL to the web processes' role too).
VALIDATE_DB_URL := postgres://postgres@127.0.0.1:5432/ivigtrial_validate
VALIDATE_APP_URL := postgres://ivigtrial_validate_app@127.0.0.1:5432/ivigtrial_validate
ifeq ($(origin DATABASE_URL),undefined)
validate: export DATABASE_URL = $(VALIDATE_DB_URL)
validate: export APP_DATABASE_URL ?= $(VALIDATE_APP_URL)
endif
validate: export VALIDATE_COMMAND = make validate
validate: $(DEV_STAMP)
	$(PY) -m validation

## make messages: extract the translatable strings into locale/<lang>/LC_MESSAGES/*.po (English is
## the source, French is translated there) and compile the .mo files the app reads (committed,
## so running the app needs no gettext). Needs GNU gettext (Debian: apt-get install gettext).
I18N_IGNORE := --ignore=.venv --ignore=tests --ignore=staticfiles --ignore=static/vendor --ignore=bench \
	--ignore=loadtest --ignore=media --ignore=docs
messages: $(DEV_STAMP)
	$(PY) manage.py makemessages -l en -l fr -d django --no-location --no-obsolete $(I18N_IGNORE)
	$(PY) manage.py makemessages -l en -l fr -d djangojs --no-location --no-obsolete $(I18N_IGNORE)
	$(PY) manage.py compilemessages -l en -l fr --ignore=.venv --ignore=staticfiles

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
