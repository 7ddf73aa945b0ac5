# Two commands: `make run` (embedded SQLite + in-process Redis) and `make test` (real PostgreSQL + Redis).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
WORKERS ?= 3
THREADS ?= 4
CELERY_WORKERS ?= 2
# Empty: every Procfile process. PROCESSES=web for a second app server.
PROCESSES ?=

# The suite's own database and Redis index, so it never touches the data of a running site.
TEST_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/concertbooking} \
	REDIS_URL=$${TEST_REDIS_URL:-redis://127.0.0.1:6379/1} DEBUG=0 \
	SECRET_KEY=test-only-secret-key-not-for-production-but-long-enough-to-pass \
	PAYMENT_GATEWAY_SANDBOX_ALLOWED=1
# A production-like stack on this machine takes top-ups from the sandbox unless told otherwise.
SERVE_ENV := PAYMENT_GATEWAY_SANDBOX_ALLOWED=$${PAYMENT_GATEWAY_SANDBOX_ALLOWED:-1}
# Several gunicorn workers share their request metrics there (one directory per port).
SERVE_ENV += PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-$${TMPDIR:-/tmp}/concertbooking-metrics-$(PORT)}

.PHONY: install run serve test lint format bench loadtest clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# run_local = runserver plus an in-process beat, so the queue admits people with no worker.
run: $(STAMP)
	DEBUG=1 $(BIN)/python manage.py migrate --noinput
	DEBUG=1 $(BIN)/python manage.py seed_demo --if-empty --on-sale-minutes 10
	DEBUG=1 $(BIN)/python manage.py run_local 127.0.0.1:$(PORT)

# gunicorn (threaded workers, gunicorn.conf.py), the Celery workers and one beat (Procfile);
# they need DATABASE_URL and REDIS_URL.
serve: $(STAMP)
	$(SERVE_ENV) $(BIN)/python manage.py migrate --noinput
	$(SERVE_ENV) $(BIN)/python manage.py collectstatic --noinput -v0
	$(SERVE_ENV) WEB_CONCURRENCY=$(WORKERS) WEB_THREADS=$(THREADS) CELERY_CONCURRENCY=$(CELERY_WORKERS) \
		$(BIN)/honcho -f Procfile start -p $(PORT) $(PROCESSES)

test: $(STAMP)
	./scripts/ensure_services.sh
	./scripts/ensure_tool.sh CHROMIUM_PATH /usr/bin/chromium chromium "the browser tests"
	-./scripts/ensure_tool.sh NGINX_PATH /usr/sbin/nginx nginx-light "the nginx config test"
	-./scripts/ensure_tool.sh PGBOUNCER_PATH /usr/sbin/pgbouncer pgbouncer "the readiness test through PgBouncer"
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	./scripts/ensure_services.sh
	-./scripts/ensure_tool.sh NGINX_PATH /usr/sbin/nginx nginx-light "the serving bench"
	$(BIN)/python bench/run.py $(BENCH)

# A bounded, loopback-only load test on the production-like stack (booking_burst beside its
# health waves; SCENARIO=two_rooms for two concerts' rooms with a pre-queue), then the audit.
loadtest: $(STAMP)
	./scripts/ensure_services.sh
	$(BIN)/python scripts/loadtest.py

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
