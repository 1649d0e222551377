"""``import_metadata``: one import of a published meta-data source into the trace store, and
the download of the sources that PyPI ships."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from mileage.collectors._base import WarningLog, collection_pass, store_quarantine
from mileage.collectors.metadata._autosklearn import AutoSklearn
from mileage.collectors.metadata._base import (
    KIND,
    MetadataBatch,
    MetadataReport,
    MetadataSource,
    digest_files,
    write_batch,
)
from mileage.collectors.metadata._flaml import FlamlZeroShot
from mileage.collectors.metadata._lcdb import Lcdb
from mileage.collectors.metadata._tabrepo import TabRepoLightGBM
from mileage.platform.errors import ConfigError, PartialFileError, SourceUnavailableError
from mileage.platform.progress import NullProgress, Progress
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t

SOURCES: dict[str, Callable[[], MetadataSource]] = {
    "tabrepo-lightgbm": TabRepoLightGBM,
    "autosklearn": AutoSklearn,
    "flaml-zeroshot": FlamlZeroShot,
    "lcdb": Lcdb,
}
#: What to unpack from each package: member path prefixes inside the archive.
_MEMBERS = {
    "autosklearn": ("/autosklearn/metalearning/files/", "/autosklearn/experimental/"),
    "flaml-zeroshot": ("flaml/default/",),
    "lcdb": ("/lcdb/",),
}


def get_source(name: str) -> MetadataSource:
    """The importer called ``name``.

    Raises:
        ConfigError: No importer has that name; the message lists the known ones.
    """
    try:
        return SOURCES[name]()
    except KeyError:
        raise ConfigError(
            f"unknown meta-data source {name!r}; known: {', '.join(sorted(SOURCES))}"
        ) from None


def download(source: MetadataSource, settings: Settings) -> Path:
    """Fetch the PyPI package that ships ``source`` into Mileage's cache (once) and unpack it.

    Returns:
        The folder holding the unpacked files (``<home>/cache/metadata/<name>``).

    Raises:
        ConfigError: The source is not on PyPI (pass ``--path``).
        SourceUnavailableError: pip could not download it.
    """
    if source.package is None:
        raise ConfigError(
            f"meta-data source {source.name!r} is not published on PyPI; pass --path with a "
            "folder that holds its files."
        )
    target = settings.home / "cache" / "metadata" / source.name
    done = target / ".complete"
    if done.is_file() and done.read_text() == source.package:
        return target
    binary = source.name == "flaml-zeroshot"
    with tempfile.TemporaryDirectory(prefix="mileage-pip-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:" if binary else "--no-binary=:all:",
            "--dest",
            tmp,
            source.package,
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
        archives = sorted(Path(tmp).glob("*.whl" if binary else "*.tar.gz"))
        if result.returncode != 0 or not archives:
            raise SourceUnavailableError(
                f"pip could not download {source.package} ({result.stderr.strip()[-300:] or 'no archive'}); "
                "check the package index is reachable (pip's own settings apply), or pass --path "
                "with a folder that holds the files."
            )
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        _unpack(archives[0], target, _MEMBERS.get(source.name, ()))
    done.write_text(source.package)
    return target


def _unpack(archive: Path, target: Path, prefixes: tuple[str, ...]) -> None:
    """Extract the members under ``prefixes`` only, refusing links and absolute paths."""

    def wanted(name: str) -> bool:
        return any(p in f"/{name}" for p in prefixes) if prefixes else True

    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if wanted(member) and not member.endswith("/") and ".." not in member.split("/"):
                    zf.extract(member, target)
        return
    with tarfile.open(archive) as tf:
        members = [m for m in tf.getmembers() if m.isfile() and wanted(m.name)]
        tf.extractall(target, members=members, filter="data")


@dataclass
class MetadataRead:
    """An import read (parsed and checked) on a worker, before anything was written.

    Attributes:
        root: The folder the files were read from.
        digest: The files' digest (the cursor of a meta-data source).
        batch: What they hold; None when the digest equals the one the worker was given
            (nothing to write unless ``full``).
        refused: A damaged file, refused as a whole: path, part, reason, fix.
        more: Always False: an import is one part (one transaction, as locally).
        attempted: Always empty.
    """

    root: str
    digest: str
    batch: MetadataBatch | None = None
    refused: tuple[str, str, str, str] | None = None
    more: bool = False
    attempted: list[str] = field(default_factory=list)


def _resolve(
    name: str, path: Path | None, settings: Settings, progress: Progress
) -> tuple[MetadataSource, Path]:
    source = get_source(name)
    if path is None:
        progress.start(f"downloading {source.package or source.name}")
        path = download(source, settings)
        progress.finish()
    elif not path.exists():
        raise ConfigError(
            f"--path {str(path)!r} does not exist; pass the folder with {name}'s files."
        )
    return source, source.locate(path.expanduser().resolve())


def read_metadata(
    name: str, path: Path | None, stored_digest: str | None, *, settings: Settings, full: bool
) -> MetadataRead:
    """Read and check an import without writing (what a worker runs)."""
    source, root = _resolve(name, path, settings, NullProgress())
    try:
        digest = digest_files(source.files(root))
        if digest == stored_digest and not full:
            return MetadataRead(str(root), digest)
        return MetadataRead(str(root), digest, source.read(root))
    except PartialFileError as exc:
        fix = str(exc).split("nothing was read. ", 1)[-1]
        return MetadataRead(str(root), "", refused=(exc.path, exc.part, exc.reason, fix))


def import_metadata(
    store: TraceStore,
    name: str,
    path: Path | None = None,
    *,
    settings: Settings | None = None,
    full: bool = False,
    progress: Progress | None = None,
    recorded: MetadataRead | None = None,
) -> MetadataReport:
    """Import one published meta-data source.

    Args:
        store: The trace store.
        name: ``tabrepo-lightgbm``, ``autosklearn``, ``flaml-zeroshot`` or ``lcdb``.
        path: Folder with the source's files; when None, the PyPI package that ships them is
            downloaded into ``<home>/cache/metadata`` with pip (not possible for TabRepo).
        settings: Where the cache is.
        full: Rewrite every row even when the files did not change since the last import.
        progress: Progress reporting.
        recorded: What a worker already read (:func:`read_metadata`): written instead of
            reading the files here.

    Returns:
        What was imported; ``unchanged`` when the same files were imported before.

    Raises:
        ConfigError: Unknown source, or ``path`` does not hold its files.
        SourceUnavailableError: The package could not be downloaded.
        DataError: A file is unreadable.

    Example:
        >>> report = import_metadata(store, "tabrepo-lightgbm", Path("../shared/data/tabrepo-lightgbm"))  # doctest: +SKIP
        >>> report.tasks, report.configurations, report.scored_runs  # doctest: +SKIP
        (93, 104, 9672)
    """
    started = time.perf_counter()
    settings = settings or Settings.load()
    progress = progress or NullProgress()
    if recorded is None:
        source, root = _resolve(name, path, settings, progress)
        digest = digest_files(source.files(root))
    else:
        source, root, digest = get_source(name), Path(recorded.root), recorded.digest
    source_id = store.ensure_source(KIND, name, display_name=f"{name} ({root})")
    report = MetadataReport(source=name, reader="files", path=str(root))
    # The batch brings its own warnings, so the pass leaves report.warnings as set here.
    try:
        with collection_pass(store, source_id, report, started=started):
            if recorded is not None and recorded.refused is not None:
                raise PartialFileError(*recorded.refused, uri=name)
            with store.connect() as conn:
                cursor = TraceStore.read_cursor(conn, source_id)
            if cursor.get("digest") == digest and not full:
                report.unchanged = True
                for key, value in (cursor.get("counts") or {}).items():
                    setattr(report, key, value)
                report.runs_unchanged = report.runs_seen
                report.runs_written = 0
            else:
                progress.start(f"reading {name} from {root}", total=1)
                batch = (
                    recorded.batch
                    if recorded is not None and recorded.batch is not None
                    else source.read(root)  # changed since the worker read: read here
                )
                progress.advance()
                progress.finish()
                progress.start(f"storing {name}", total=1)
                with store.begin() as conn:
                    write_batch(conn, source_id, batch, report)
                    report.runs_written = len(batch.runs)
                    counts = {
                        k: getattr(report, k)
                        for k in (
                            "tasks",
                            "datasets",
                            "configurations",
                            "distinct_configurations",
                            "scored_runs",
                            "portfolio_members",
                            "runs_seen",
                            "experiments",
                        )
                    }
                    TraceStore.write_cursor(
                        conn,
                        source_id,
                        {
                            "digest": digest,
                            "path": str(root),
                            "passes": int(cursor.get("passes", 0)) + 1,
                            "counts": counts,
                        },
                    )
                progress.advance()
                progress.finish()
                report.warnings = batch.warnings.lines()
                report.quarantined = store_quarantine(
                    store, source_id, batch.warnings.quarantined, replace=True
                )
    except PartialFileError as exc:
        # Refused as a whole and recorded, so 'mileage status' shows why nothing changed.
        held = WarningLog()
        held.quarantine("file", _relative(exc.path, root), exc.part, exc.reason)
        report.quarantined = store_quarantine(store, source_id, held.quarantined, replace=False)
        raise
    return report


def _relative(path: str, root: Path) -> str:
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return path


class MetadataCollector:
    """:func:`import_metadata` as a :class:`~mileage.collectors.Collector` (for schedules).

    Args:
        name: The source (``tabrepo-lightgbm``, ``autosklearn``, ``flaml-zeroshot``, ``lcdb``).
        path: Folder with its files; None downloads the PyPI package that ships them.
        settings: Where the download cache is.
        full: Rewrite even when the files did not change.
    """

    kind = KIND

    def __init__(
        self,
        name: str,
        path: Path | None = None,
        *,
        settings: Settings | None = None,
        full: bool = False,
    ) -> None:
        get_source(name)  # an unknown name is a usage error now
        self.name = name
        self.path = path
        self.settings = settings
        self.full = full

    def collect(self, store: TraceStore, *, progress: Progress | None = None) -> MetadataReport:
        """Run one import."""
        return import_metadata(
            store, self.name, self.path, settings=self.settings, full=self.full, progress=progress
        )

    # -- read apart (see mileage.collectors.collect_apart) -----------------------------------

    def apart_key(self) -> str:
        """The source's identity: its name."""
        return f"{KIND}:{self.name}"

    def apart_inputs(self, store: TraceStore, skip: frozenset[str]) -> str | None:
        """The digest of the files last imported (None: never imported)."""
        with store.connect() as conn:
            source_id = conn.execute(
                select(t.sources.c.id).where(t.sources.c.kind == KIND, t.sources.c.uri == self.name)
            ).scalar_one_or_none()
            if source_id is None:
                return None
            digest = TraceStore.read_cursor(conn, int(source_id)).get("digest")
        return str(digest) if digest else None

    def read_apart(self, inputs: str | None) -> MetadataRead:
        """The files read and checked on a worker; writes nothing. An import is one part:
        its size is that of the published files, and it is written in one transaction."""
        return read_metadata(
            self.name, self.path, inputs, settings=self.settings or Settings.load(), full=self.full
        )

    def write_apart(self, store: TraceStore, read: MetadataRead) -> MetadataReport:
        """Write what a worker read, with the code of a local import."""
        return import_metadata(
            store, self.name, settings=self.settings, full=self.full, recorded=read
        )


__all__ = [
    "SOURCES",
    "MetadataCollector",
    "MetadataRead",
    "download",
    "get_source",
    "import_metadata",
    "read_metadata",
]
