# The app's image: compose.yaml runs the web server, both Celery workers, beat and the one-shot
# migrate from it. The commands are the Procfile's, run from /app as on a machine.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# /app belongs to the app user: collectstatic below writes staticfiles/ into it.
RUN useradd --create-home --uid 10001 app && install -d -o app -g app /app
WORKDIR /app

# The virtualenv sits where the Procfile looks (.venv/bin/...); runtime packages only.
COPY requirements.txt .
RUN python -m venv .venv && .venv/bin/pip install -r requirements.txt

COPY --chown=app:app . .
USER app
# Collected into the image (STATIC_ROOT), compressed, for whitenoise and for nginx's volume.
# DEBUG=1 only for this step: its settings start without a database, Redis or secret.
RUN DEBUG=1 .venv/bin/python manage.py collectstatic --noinput -v0

ENV HOST=0.0.0.0 \
    PORT=8000
EXPOSE 8000
CMD [".venv/bin/gunicorn", "-c", "gunicorn.conf.py", "concertbooking.wsgi"]
