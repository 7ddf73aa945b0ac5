"""deploy/nginx.conf on this machine: the template filled in, wrapped in a main configuration of
its own (pid, logs and temp files in a temporary folder), and nginx run as a child process.

Debian's package (make bench installs it); its system service is never used.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf"
# The names the template's ${...} placeholders take (compose.yaml's nginx service sets them).
PLACEHOLDERS = ("APP_SERVER", "LISTEN", "STATIC_ROOT")


def binary() -> str | None:
    """The nginx executable, or None when it is not installed."""
    path = os.environ.get("NGINX_PATH") or "/usr/sbin/nginx"
    return path if os.access(path, os.X_OK) else shutil.which("nginx")


def render(**values: str) -> str:
    """The template with the placeholders filled in; nginx's own $variables are kept."""
    missing = set(PLACEHOLDERS) - set(values)
    if missing:
        raise ValueError(f"missing placeholder values: {sorted(missing)}")
    return Template(TEMPLATE.read_text()).safe_substitute(values)


def write_config(folder: Path, **values: str) -> Path:
    """A complete nginx.conf in `folder` around the rendered template; returns its path."""
    site = folder / "site.conf"
    site.write_text(render(**values))
    temp = folder / "temp"
    temp.mkdir(exist_ok=True)
    # As root the master hands the workers to `nobody`, who could not read the temp folder.
    user = f"user {getpass.getuser()};\n" if os.geteuid() == 0 else ""
    main = folder / "nginx.conf"
    main.write_text(
        f"""{user}daemon off;
worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {site};
}}
"""
    )
    return main


def check(config: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on a configuration written by write_config()."""
    return subprocess.run(
        [binary(), "-t", "-c", str(config), "-p", str(config.parent)],
        capture_output=True,
        text=True,
        timeout=30,
    )


@contextmanager
def running(*, app_port: int, port: int, static_root: Path):
    """nginx on 127.0.0.1:`port` in front of the app server on `app_port`, until the block ends."""
    with tempfile.TemporaryDirectory(prefix="cb-nginx-") as folder:
        os.chmod(folder, 0o755)
        config = write_config(
            Path(folder),
            APP_SERVER=f"127.0.0.1:{app_port}",
            LISTEN=f"127.0.0.1:{port}",
            STATIC_ROOT=str(static_root),
        )
        checked = check(config)
        if checked.returncode:
            raise RuntimeError(f"nginx -t failed: {checked.stderr}")
        process = subprocess.Popen(
            [binary(), "-c", str(config), "-p", folder],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=1)
                    break
                except urllib.error.HTTPError:
                    break  # nginx answered
                except OSError:
                    if process.poll() is not None or time.monotonic() > deadline:
                        log = Path(folder, "error.log")
                        raise RuntimeError(
                            f"nginx did not start: {log.read_text() if log.exists() else ''}"
                        ) from None
                    time.sleep(0.1)
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
