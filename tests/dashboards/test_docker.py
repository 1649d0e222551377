"""The compose stack and the Dockerfile, checked without a Docker engine: every published
port on loopback, every mounted file present, images pinned, the daemon not run as root."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def test_compose_services_bind_loopback_and_mount_existing_files() -> None:
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "mlflow", "daemon", "prometheus", "alertmanager", "grafana"} <= set(
        services
    )
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        image = service.get("image")
        if image:
            assert ":" in image and not image.endswith(":latest"), (
                f"{name}: pin the image ({image})"
            )
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DOCKER / source).resolve().exists(), f"{name} mounts missing {source}"
    assert services["daemon"]["build"]["dockerfile"] == "docker/Dockerfile"
    assert services["daemon"]["environment"]["MILEAGE_DB_URL"].startswith("postgresql://")


def test_prometheus_in_compose_scrapes_the_daemon() -> None:
    config = yaml.safe_load((ROOT / "dashboards" / "prometheus" / "prometheus.yml").read_text())
    targets = config["scrape_configs"][0]["static_configs"][0]["targets"]
    assert targets == ["daemon:9464"]


def test_dockerfile_runs_the_daemon_as_a_user() -> None:
    text = (DOCKER / "Dockerfile").read_text()
    lines = [
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    assert lines[0].startswith("FROM python:3.11-")
    assert any(line.startswith("USER ") and "root" not in line for line in lines)
    assert 'CMD ["daemon"]' in lines and "HEALTHCHECK" in text
