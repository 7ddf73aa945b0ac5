"""Every environment variable the code reads is documented in the README and .env.example."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_READ = re.compile(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]+)["']""")
_ENVIRON = re.compile(r"""os\.environ\.get\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def _variables() -> set[str]:
    names = set(_READ.findall((ROOT / "concertbooking" / "settings.py").read_text()))
    names |= set(_ENVIRON.findall((ROOT / "gunicorn.conf.py").read_text()))
    return names


def test_every_variable_is_documented():
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / ".env.example").read_text()
    variables = _variables()
    assert "DATABASE_URL" in variables and "REDIS_URL" in variables
    missing_readme = sorted(v for v in variables if f"`{v}`" not in readme)
    missing_example = sorted(v for v in variables if not re.search(rf"^(# )?{v}=", example, re.M))
    assert not missing_readme, f"README's configuration table lacks {missing_readme}"
    assert not missing_example, f".env.example lacks {missing_example}"


def test_the_example_file_as_it_stands_starts_the_site_on_its_defaults(tmp_path):
    """Copying .env.example to .env must not change what an unconfigured run does."""
    import os
    import subprocess
    import sys

    example = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            example[name] = value
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(example, DEBUG="1", QUEUE_REDIS_URL="", CELERY_BROKER_URL="", DATABASE_URL="")
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], repr(s.QUEUE_REDIS_URL), "
        "s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER)"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert out == ["django.db.backends.sqlite3", "''", "memory://", "True"]
