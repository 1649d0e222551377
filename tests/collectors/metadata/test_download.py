"""Sources shipped on PyPI: the cached download is used without the network, and unpacking
keeps only the source's files."""

from __future__ import annotations

import io
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from mileage.collectors import Collector
from mileage.collectors.metadata import MetadataCollector, MetadataReport, download, get_source
from mileage.collectors.metadata._import import _unpack
from mileage.platform.errors import ConfigError
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.testing import require_shared_data


def test_a_completed_download_is_reused_offline(tmp_path: Path) -> None:
    settings = Settings.load(home=tmp_path / "home")
    cached = settings.home / "cache" / "metadata" / "flaml-zeroshot"
    shutil.copytree(require_shared_data("flaml-zeroshot"), cached / "flaml" / "default")
    (cached / ".complete").write_text("flaml==2.7.0")  # what download() leaves behind
    assert download(get_source("flaml-zeroshot"), settings) == cached
    store = TraceStore.open(f"sqlite:///{tmp_path / 'trace.db'}")
    collector: Collector = MetadataCollector("flaml-zeroshot", settings=settings)
    report = collector.collect(store)
    assert isinstance(report, MetadataReport)
    assert report.path == str(cached / "flaml" / "default") and report.runs_seen == 2563
    store.close()
    with pytest.raises(ConfigError, match="not published on PyPI"):
        download(get_source("tabrepo-lightgbm"), settings)
    with pytest.raises(ConfigError, match="unknown meta-data source 'openml100'"):
        MetadataCollector("openml100")


def test_unpacking_keeps_the_source_files_only(tmp_path: Path) -> None:
    sdist = tmp_path / "lcdb-0.1.0.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for name, body in (
            ("lcdb-0.1.0/lcdb/datasets.csv", b"openmlid,Name\n3,kr-vs-kp\n"),
            ("lcdb-0.1.0/setup.py", b"print('not data')"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
        link = tarfile.TarInfo("lcdb-0.1.0/lcdb/escape")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    _unpack(sdist, tmp_path / "out", ("/lcdb/",))
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    ) == ["lcdb-0.1.0/lcdb/datasets.csv"]
    wheel = tmp_path / "flaml-2.7.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("flaml/default/lgbm/binary.json", "{}")
        zf.writestr("flaml/automl/automl.py", "")
        zf.writestr("flaml/default/../../evil.json", "{}")
    _unpack(wheel, tmp_path / "wheel", ("flaml/default/",))
    assert [p.name for p in (tmp_path / "wheel").rglob("*.json")] == ["binary.json"]
