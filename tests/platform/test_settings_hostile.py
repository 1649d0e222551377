"""mileage.toml mistakes: an unknown key is named but its (possibly secret) value is never
echoed; a malformed file is one line, not a traceback."""

from __future__ import annotations

from pathlib import Path

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
