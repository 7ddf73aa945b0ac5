"""gunicorn settings for bench_serving's gunicorn candidates: the bind the harness gives (PORT)
and the timeouts gunicorn served with; the worker class, workers and threads come on each
candidate's command line."""

import os

bind = f"127.0.0.1:{os.environ['PORT']}"
keepalive = 5
timeout = 30
graceful_timeout = 10
errorlog = "-"
