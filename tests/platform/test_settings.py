from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mileage.platform.errors import ConfigError
from mileage.platform.settings import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("MILEAGE_DB_URL", "MILEAGE_CONFIG", "MILEAGE_HTTP_RETRIES", "MILEAGE_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


def test_default_store_is_sqlite_in_the_working_directory(tmp_path: Path) -> None:
    s = Settings.load()
    assert s.resolved_db_url == f"sqlite:///{tmp_path.resolve() / '.mileage' / 'mileage.db'}"


def test_precedence_argument_over_environment_over_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "mileage.toml").write_text('db_url = "sqlite:///from-file.db"\nhttp_retries = 7\n')
    assert Settings.load().db_url == "sqlite:///from-file.db"
    assert Settings.load().http_retries == 7
    monkeypatch.setenv("MILEAGE_DB_URL", "sqlite:///from-env.db")
    assert Settings.load().db_url == "sqlite:///from-env.db"
    assert Settings.load(db_url="sqlite:///explicit.db").db_url == "sqlite:///explicit.db"
    assert Settings.load(db_url=None).db_url == "sqlite:///from-env.db"


def test_explicit_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "other.toml"
    cfg.write_text("collect_batch_size = 42\n")
    assert Settings.load(config_file=cfg).collect_batch_size == 42
    with pytest.raises(ConfigError, match="does not exist"):
        Settings.load(config_file=tmp_path / "missing.toml")


def test_invalid_value_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MILEAGE_HTTP_RETRIES", "0")
    with pytest.raises(ConfigError, match="http_retries") as info:
        Settings.load()
    assert isinstance(info.value, ValueError)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "mileage.toml").write_text("db_ulr = 'typo'\n")
    with pytest.raises(ConfigError, match="db_ulr"):
        Settings.load()


def test_settings_are_frozen() -> None:
    s = Settings.load()
    with pytest.raises(ValidationError):
        s.http_retries = 5  # type: ignore[misc]


def test_paging_urls_must_be_absolute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Alert links are opened from a pager far from the repository: no relative runbooks."""
    assert Settings.load().runbook_url.startswith("http://")  # the daemon serves them
    assert Settings.load().alertmanager_url == ""  # unset: nothing is pushed
    monkeypatch.setenv("MILEAGE_RUNBOOK_URL", "docs/runbooks.md")
    with pytest.raises(ConfigError, match=r"runbook_url.*absolute http"):
        Settings.load()
    monkeypatch.delenv("MILEAGE_RUNBOOK_URL")
    monkeypatch.setenv("MILEAGE_ALERTMANAGER_URL", "alertmanager:9093")
    with pytest.raises(ConfigError, match=r"alertmanager_url.*http"):
        Settings.load()
    monkeypatch.setenv("MILEAGE_ALERTMANAGER_URL", "http://127.0.0.1:9093/")
    assert Settings.load().alertmanager_url == "http://127.0.0.1:9093"
