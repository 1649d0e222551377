"""mileage.toml mistakes: an unknown key is named but its (possibly secret) value is never
echoed; a malformed file is one line, not a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mileage.cli import app
from mileage.platform.errors import ConfigError
from mileage.platform.settings import Settings

SECRET = "https://hooks.slack.com/services/SECRET-TOKEN"


def test_unknown_config_key_is_named_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "mileage.toml"
    config.write_text(f'webhook-url = "{SECRET}"\n')
    with pytest.raises(ConfigError) as caught:
        Settings.load(config)
    assert "webhook-url: unknown setting" in str(caught.value)
    assert "webhook_url" in str(caught.value)  # the known name it was probably meant to be
    assert "SECRET-TOKEN" not in str(caught.value)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2 and "SECRET-TOKEN" not in result.output


def test_invalid_secret_setting_value_is_not_echoed(tmp_path: Path) -> None:
    config = tmp_path / "mileage.toml"
    config.write_text('db_url = ["postgresql://u:S3CRET@h/db"]\n')
    with pytest.raises(ConfigError) as caught:
        Settings.load(config)
    assert "db_url" in str(caught.value) and "S3CRET" not in str(caught.value)


@pytest.mark.parametrize("content", [b"bogus = [\n", b"home = '\xff\xfe'\n"], ids=["toml", "utf8"])
def test_malformed_config_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    (tmp_path / "mileage.toml").write_bytes(content)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MILEAGE_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["status"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "mileage.toml" in result.stderr


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("foo://bar", "transport must be one of tcp"),
        ("inproc://x", "transport must be one of tcp"),
        ("tcp://[::1", "Invalid IPv6 URL"),
        ("tcp://127.0.0.1:99999", "Port out of range"),
        ("tcp://", "give HOST:PORT after tcp://"),
        ("tcp://h:0", "give HOST:PORT after tcp://"),
    ],
)
def test_a_dask_scheduler_address_that_cannot_work_is_refused_at_once(
    address: str, why: str
) -> None:
    # before: a connect attempt of up to 40 s per job run, then a bare TimeoutError
    with pytest.raises(ConfigError, match=r"dask_scheduler: .*must be a scheduler address") as info:
        Settings.load(dask_scheduler=address)
    assert why in str(info.value)


@pytest.mark.parametrize(
    "address", ["local", "tcp://127.0.0.1:8786", "tls://[::1]:8786", "tcp://h"]
)
def test_scheduler_addresses_dask_accepts_still_load(address: str) -> None:
    assert Settings.load(dask_scheduler=address).dask_scheduler == address


@pytest.mark.parametrize(
    "field",
    [
        "collect_interval_seconds",
        "monitor_interval_seconds",
        "metalearner_interval_seconds",
        "alertmanager_push_interval_seconds",
        "job_deadline_seconds",
    ],
)
def test_a_job_interval_beyond_a_year_is_refused(field: str) -> None:
    # before: accepted, then the daemon died on an overflowing timer or date
    with pytest.raises(ConfigError, match=field):
        Settings.load(**{field: 1e12})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"), [("dask_scheduler", "garbage-address"), ("daemon_processes", -1)]
)
def test_a_bad_value_is_shown_once(field: str, value: object) -> None:
    overrides: dict[str, Any] = {field: value}
    with pytest.raises(ConfigError) as caught:
        Settings.load(**overrides)
    message = str(caught.value)
    assert field in message and message.count(repr(value).strip("'")) == 1, message
