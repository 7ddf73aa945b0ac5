"""The deployment files name only what exists: Dockerfile, compose.yaml, the Procfile and
deploy/nginx.conf, read as a Docker or nginx would read them, each command they run checked
against what the image installs (requirements.txt) and what the code defines."""

import importlib.metadata
import json
import re
import shlex
import tempfile
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

from bench import nginx

ROOT = Path(__file__).resolve().parent.parent
# The processes the project runs, wherever it runs them.
PROCESSES = {"web", "worker", "admissions", "beat"}
# The contract's queues when CELERY_TASK_ROUTES is not (yet) in settings.
CONTRACT_QUEUES = {"celery", "admissions"}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: comments dropped, continued lines joined."""
    instructions, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, args = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def exec_form(args: str) -> list[str]:
    """A CMD's or RUN's arguments as argv (JSON exec form, else split as a shell would)."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = shlex.split(command)
    return processes


def commands_of(command: str | list[str]) -> list[list[str]]:
    """The argv of each program a compose command runs (`sh -c "a && b"` is two)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def app_services() -> dict[str, dict]:
    """The services built from this repository's image."""
    return {name: svc for name, svc in compose()["services"].items() if "build" in svc}


def runtime_scripts() -> set[str]:
    """Console scripts of the packages requirements.txt installs (the image installs no more)."""
    scripts = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name = re.split(r"[\[=<>~ ]", line, maxsplit=1)[0]
            dist = importlib.metadata.distribution(name)
            scripts |= {ep.name for ep in dist.entry_points if ep.group == "console_scripts"}
    return scripts


def check_command(argv: list[str]) -> None:
    """The program is in the image's virtualenv and whatever it is told to run exists."""
    program = argv[0]
    assert program.startswith(".venv/bin/"), f"{argv}: run from the image's virtualenv"
    name = program.removeprefix(".venv/bin/")
    if name == "python":
        assert argv[1] in {"manage.py", "-m", "-c"}, argv
        if argv[1] == "manage.py":
            assert argv[2] in get_commands(), f"no manage.py command {argv[2]!r}"
        if argv[1] == "-m":
            # The project's own module, whose imports (the app server's) must be installed.
            assert (ROOT / (argv[2].replace(".", "/") + ".py")).exists(), argv
            importlib.import_module(argv[2])
        return
    assert name in runtime_scripts(), f"{name} is not installed by requirements.txt"
    assert (ROOT / ".venv" / "bin" / name).exists()
    if name == "gunicorn":
        assert (ROOT / option(argv, "-c", "--config")).exists(), argv
        module = argv[-1].split(":")[0]
        assert (ROOT / (module.replace(".", "/") + ".py")).exists(), argv
    if name == "celery":
        from celery.app.utils import find_app

        assert argv[1:3] == ["-A", "concertbooking"], argv
        assert find_app("concertbooking").main == "concertbooking"
        assert argv[3] in {"worker", "beat"}, argv


def option(argv: list[str], *names: str) -> str | None:
    """The value of a command-line option given as `-X v`, `--x v` or `--x=v`."""
    for index, arg in enumerate(argv):
        for name in names:
            if arg == name and index + 1 < len(argv):
                return argv[index + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def queues(argv: list[str]) -> set[str]:
    # A worker told no queue consumes Celery's default one.
    return set((option(argv, "-Q", "--queues") or "celery").split(","))


def test_the_dockerfile_builds_a_non_root_image_of_the_app():
    steps = dockerfile()
    keywords = [keyword for keyword, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = [args for keyword, args in steps if keyword == "RUN"]
    assert any("pip install -r requirements.txt" in run for run in runs)
    # Static files are collected at build time, by the app's own command, as the app user.
    collect = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and "collectstatic" in a)
    user = max(i for i, k in enumerate(keywords) if k == "USER")
    assert steps[user][1] not in {"root", "0"} and user < collect
    # WORKDIR makes /app root's, and COPY --chown leaves an existing folder as it is: the app
    # user can write staticfiles/ there only if /app was made theirs before.
    workdir = keywords.index("WORKDIR")
    assert steps[workdir][1] == "/app"
    assert any(
        k == "RUN" and re.search(rf"install -d -o {steps[user][1]} -g \S+ /app\b", a)
        for k, a in steps[:workdir]
    )
    check_command(exec_form(steps[collect][1].split(" ", 1)[1]))
    for keyword, args in steps:
        if keyword == "COPY":
            for source in [a for a in shlex.split(args) if not a.startswith("--")][:-1]:
                assert source == "." or (ROOT / source).exists(), source
    cmd = exec_form(dict(steps)["CMD"])
    check_command(cmd)
    assert cmd == procfile()["web"], "the image serves as the Procfile's web process does"


def test_every_command_compose_runs_exists():
    services = app_services()
    assert set(services) >= PROCESSES | {"migrate"}
    for service in services.values():
        for argv in commands_of(service["command"]):
            check_command(argv)
        test = service.get("healthcheck", {}).get("test")
        if test:
            assert test[0] == "CMD"
            check_command(test[1:])


def test_compose_and_the_procfile_run_the_same_processes():
    services, processes = app_services(), procfile()
    assert set(processes) <= set(services), "every Procfile process is a compose service"
    for name, argv in processes.items():
        (ours,) = commands_of(services[name]["command"])
        assert ours[:4] == argv[:4], f"{name}: the same program and subcommand"
        if "worker" in argv:
            assert queues(ours) == queues(argv), f"{name}: the same queues"
        scheduler = option(argv, "-S", "--scheduler")
        if scheduler:
            assert option(ours, "-S", "--scheduler") == scheduler


def test_the_workers_consume_every_routed_queue_and_no_other():
    routes = getattr(settings, "CELERY_TASK_ROUTES", None)
    routed = {"celery"} | {r["queue"] for r in routes.values()} if routes else CONTRACT_QUEUES
    consumed = {}
    for name, service in app_services().items():
        for argv in commands_of(service["command"]):
            if "worker" in argv:
                for queue in queues(argv):
                    consumed.setdefault(queue, []).append(name)
    assert set(consumed) == routed
    # The promotion has a worker of its own.
    assert consumed["admissions"] == ["admissions"]


def test_beat_runs_one_scheduler_that_exists():
    beats = [
        argv
        for service in app_services().values()
        for argv in commands_of(service["command"])
        if "beat" in argv
    ]
    assert len(beats) == 1
    scheduler = option(beats[0], "-S", "--scheduler")
    assert scheduler == "redbeat.RedBeatScheduler"
    pytest.importorskip("redbeat")
    from django.utils.module_loading import import_string

    assert import_string(scheduler)


def test_services_wait_for_what_they_need():
    services = compose()["services"]
    assert set(services) >= PROCESSES | {"postgres", "redis", "nginx", "migrate"}
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on a missing {needed}"
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{needed} has no healthcheck"
    for name in PROCESSES:
        env = services[name]["environment"]
        assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= set(env), name
        assert services[name]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )
    assert services["web"]["environment"]["HOST"] == "0.0.0.0"


def test_nginx_service_mounts_the_config_and_the_static_files():
    service = compose()["services"]["nginx"]
    mounts = dict(volume.split(":")[:2] for volume in service["volumes"])
    assert (ROOT / "deploy" / "nginx.conf").exists()
    assert mounts["./deploy/nginx.conf"] == "/etc/nginx/templates/default.conf.template"
    env = service["environment"]
    assert set(nginx.PLACEHOLDERS) <= set(env)
    assert mounts["static"] == env["STATIC_ROOT"]
    host, _, port = env["APP_SERVER"].partition(":")
    assert host == "web" and port == compose()["services"]["web"]["environment"]["PORT"]
    migrate = dict(v.split(":")[:2] for v in compose()["services"]["migrate"]["volumes"])
    assert migrate["static"] == "/app/" + Path(settings.STATIC_ROOT).name


def test_the_nginx_config_passes_nginx_t():
    if nginx.binary() is None:
        pytest.skip("nginx is not installed (make test installs it)")
    env = compose()["services"]["nginx"]["environment"]
    with tempfile.TemporaryDirectory() as folder:
        # The compose values, but an address this host resolves: nginx -t resolves upstreams.
        config = nginx.write_config(
            Path(folder), APP_SERVER="127.0.0.1:8000", LISTEN="127.0.0.1:18080",
            STATIC_ROOT=env["STATIC_ROOT"],
        )  # fmt: skip
        checked = nginx.check(config)
    assert checked.returncode == 0, checked.stderr


def test_the_nginx_config_keeps_what_the_app_relies_on():
    text = (ROOT / "deploy" / "nginx.conf").read_text()
    for directive in (
        # The port stays in Host: CSRF compares it with a form's Origin (localhost:8080).
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Request-ID $request_id;",
        "proxy_request_buffering on;",
        "proxy_buffering on;",
        "keepalive 32;",
    ):
        assert directive in text
    for private in ("/metrics", "/api/ready"):
        assert re.search(rf"location = {private} \{{\s*deny all;\s*\}}", text)
    assert "zone=signin" in text and "zone=api_writes" in text
