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
    missing_example = sorted(v for v in variables if not re.search(rf"^{v}=", example, re.M))
    assert not missing_readme, f"README's configuration table lacks {missing_readme}"
    assert not missing_example, f".env.example lacks {missing_example}"
