"""The project's settings, routed through bench/urls.py (the floor endpoints); nothing else."""

from concertbooking.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
