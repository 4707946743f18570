# The two commands: `make run` (set up everything, start the platform on its embedded default) and
# `make test` (set up everything, run every test). See README.md.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SERVICES := catalog orders inventory aftersales logistics billing marketing analytics console
STAMP  := $(VENV)/.installed
HTMX_VERSION := 2.0.11
PYTEST_ARGS ?=

.PHONY: help install browser migrate run run-rabbit test test-unit test-integration test-reliability bench clean compose-env compose-up compose-down

help:
	@echo "make run          set up and start the eight services and the console (SQLite + embedded bus)"
	@echo "make run-rabbit   the same on RabbitMQ and PostgreSQL (see README: configuration)"
	@echo "make test         set up and run every test (needs RabbitMQ and PostgreSQL)"
	@echo "make test-unit    fast tests only (no network)"
	@echo "make compose-up   build the image and start everything with docker compose (deploy/README.md)"
	@echo "make compose-down stop it (data volumes are kept)"
	@echo "make test-reliability  fault-injection scenarios (also part of make test); report in docs/reliability.md"
	@echo "make bench        benchmarks on RabbitMQ + PostgreSQL; tables + bench/results/*.json (BENCH_ARGS=--quick)"

$(STAMP): requirements.txt requirements-dev.txt libs/common/pyproject.toml libs/testkit/pyproject.toml $(wildcard services/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e libs/common -e libs/testkit $(foreach s,$(SERVICES),-e services/$(s))
	# The console's front-end package, from the npm registry (never copied into the repo), and its
	# compiled translations (services/console/README.md).
	npm install --silent --no-audit --no-fund --prefix $(VENV)/console-assets htmx.org@$(HTMX_VERSION)
	$(BIN)/python -m console.translations
	@touch $@

install: $(STAMP)

migrate: install
	$(BIN)/ecom migrate

run: migrate
	@echo "console: http://127.0.0.1:$${CONSOLE_PORT:-8000} (the first migration printed the admin's one-time password above)"
	$(BIN)/honcho -f deploy/Procfile -d . start

# RabbitMQ + PostgreSQL on this machine: one database per service, created if missing.
RABBIT_ENV = BROKER_URL=amqp://guest:guest@127.0.0.1:5672// \
	$(foreach s,$(SERVICES),$(shell echo $(s) | tr a-z A-Z)_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/ecom_$(s))
run-rabbit: install
	@for s in $(SERVICES); do psql -h 127.0.0.1 -U postgres -d test -tc "SELECT 1 FROM pg_database WHERE datname='ecom_$$s'" | grep -q 1 || psql -h 127.0.0.1 -U postgres -d test -c "CREATE DATABASE ecom_$$s" >/dev/null; done
	$(RABBIT_ENV) $(BIN)/ecom migrate
	$(RABBIT_ENV) $(BIN)/honcho -f deploy/Procfile -d . start

# The console's browser tests drive Debian's Chromium (Playwright's own browser download does not
# work here) with a CJK font: installed with apt when missing and running as root (as CI does);
# elsewhere those tests skip with the reason (with CI=true a missing browser fails them).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null 2>&1 || \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null)); \
	  else echo "chromium / fonts-wqy-microhei missing and not root: the console's browser tests will skip"; fi; \
	fi

test: install browser
	$(BIN)/pytest $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest -m "not integration" $(PYTEST_ARGS)

test-integration: install
	$(BIN)/pytest -m integration $(PYTEST_ARGS)

# docker compose (deploy/docker-compose.yml): one image, RabbitMQ, PostgreSQL, each service's
# migrate + web + worker. Secrets: deploy/env/*.env, generated once from the examples.
COMPOSE ?= docker compose
COMPOSE_FILE := deploy/docker-compose.yml

compose-env:
	$(PYTHON) deploy/env/make_env.py

compose-up: compose-env
	$(COMPOSE) -f $(COMPOSE_FILE) up --detach --build
	$(COMPOSE) -f $(COMPOSE_FILE) ps

compose-down:
	$(COMPOSE) -f $(COMPOSE_FILE) down
# Reliability scenarios over the real broker and database (also run by `make test`); their figures go
# to bench/results/reliability.json and the table in docs/reliability.md.
test-reliability: install
	$(BIN)/pytest -m reliability $(PYTEST_ARGS); status=$$?; $(BIN)/python -m bench.reliability_report; exit $$status

# Benchmarks (bench/README.md): e.g. `make bench BENCH_ARGS="raw_loop outbox_relay --runs 5"`.
BENCH_ARGS ?=
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
