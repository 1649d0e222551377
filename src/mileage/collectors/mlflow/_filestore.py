"""Direct reader of an MLflow file store (an ``mlruns/`` folder) written by any MLflow version.

Tolerates what old and hand-edited stores contain: numeric run statuses, missing end times,
two-field metric lines (no step), foreign absolute artifact paths, deleted experiments in
``.trash``, and bytes that are not UTF-8. Problems are reported as warnings; files are only
read, never written.

Anyone who can write into the folder could plant a symbolic link to a secret, a FIFO or a
huge file there, so only regular files are read (opened with ``O_NOFOLLOW | O_NONBLOCK`` and
checked with ``fstat``), folders that are symbolic links are not entered, and each file has a
size cap. A run holding such a file is quarantined as a whole; nothing outside the folder is
ever read.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mileage.collectors._base import WarningLog, show_value
from mileage.collectors.mlflow._records import (
    DatasetInput,
    ExperimentRecord,
    MetricSeries,
    ModelVersionRecord,
    RegistrySnapshot,
    RunHeader,
    RunRecord,
    kept_run_name,
    normalize_stage,
    normalize_status,
    signature_of,
)
from mileage.platform.errors import CollectorError

try:  # the C loader is ~10x faster on stores with thousands of runs
    _Loader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

_SKIP_DIRS = {".trash", "models", ".git"}
_DEFAULT_MAX_BYTES = 4 * 2**20
_DEFAULT_MAX_METRIC_BYTES = 256 * 2**20


class UnsafeFileError(Exception):
    """A file of the store that is not read: a link, a special file or one too large."""

    def __init__(self, rel: str, problem: str) -> None:
        super().__init__(f"{rel}: {problem}")
        self.rel = rel
        self.problem = problem


def lifecycle_stage(stage: Any, in_trash: bool) -> str:
    """The lifecycle stage the three readers agree on: what ``meta.yaml`` says.

    MLflow's own servers report an experiment's or run's ``lifecycle_stage`` from its
    ``meta.yaml``, wherever the folder lies; a folder under ``.trash/`` counts as deleted only
    when its ``meta.yaml`` names no stage. So a REST, SQLite and file read of one store agree.
    """
    if isinstance(stage, str) and stage:
        return stage
    return "deleted" if in_trash else "active"


def _holds_runs(folder: Path) -> bool:
    """An experiment folder: it has a ``meta.yaml``, or run folders that have one."""
    if os.path.lexists(folder / "meta.yaml"):
        return True
    return any(_real_dir(run) and (run / "meta.yaml").is_file() for run in folder.iterdir())


def _real_dir(path: Path) -> bool:
    """A folder that is not a symbolic link (links could lead out of the store)."""
    return path.is_dir() and not path.is_symlink()


def looks_like_file_store(path: Path) -> bool:
    """Whether ``path`` is an ``mlruns/`` folder (experiment folders with ``meta.yaml``)."""
    if not path.is_dir():
        return False
    return any((child / "meta.yaml").is_file() for child in path.iterdir() if child.is_dir())


class FileStoreReader:
    """Reader of an ``mlruns/`` folder."""

    kind = "filestore"
    full_listing = True

    def __init__(
        self,
        root: Path,
        warnings: WarningLog,
        *,
        max_file_bytes: int = _DEFAULT_MAX_BYTES,
        max_metric_file_bytes: int = _DEFAULT_MAX_METRIC_BYTES,
    ) -> None:
        self.root = root.resolve()
        self.uri = self.root.as_uri()
        self._warnings = warnings
        self._max_bytes = max_file_bytes
        self._max_metric_bytes = max_metric_file_bytes
        if not looks_like_file_store(self.root):
            raise CollectorError(
                f"{str(self.root)!r} is not an MLflow file store: it has no experiment "
                "folders with a meta.yaml. Point --tracking-uri at the 'mlruns' folder."
            )
        self._run_dirs: dict[str, tuple[Path, str]] = {}

    def close(self) -> None:
        self._run_dirs.clear()

    # -- low-level reads -------------------------------------------------------------------

    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _read(self, path: Path, limit: int) -> bytes:
        """The bytes of a regular file of at most ``limit`` bytes.

        Raises:
            UnsafeFileError: A symbolic link, a FIFO, socket or device, or a larger file.
        """
        rel = self._rel(path)
        try:
            # O_NOFOLLOW refuses a link; O_NONBLOCK keeps a FIFO from blocking the open.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise UnsafeFileError(rel, "is a symbolic link (not followed)") from None
            raise UnsafeFileError(rel, f"cannot be read ({exc.strerror})") from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise UnsafeFileError(rel, "is not a regular file (FIFO, socket or device)")
            if info.st_size > limit:
                raise UnsafeFileError(
                    rel,
                    f"holds {info.st_size:,} bytes, more than the cap of {limit:,} "
                    "(MILEAGE_MAX_FILE_BYTES / MILEAGE_MAX_METRIC_FILE_BYTES)",
                )
            chunks = []
            size = 0
            while chunk := os.read(fd, min(1 << 20, limit + 1 - size)):
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:  # grew while being read
                    raise UnsafeFileError(rel, f"grew past the cap of {limit:,} bytes")
            return b"".join(chunks)
        finally:
            os.close(fd)

    def _text(self, path: Path, limit: int | None = None) -> str:
        raw = self._read(path, limit or self._max_bytes)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            self._warnings.add(
                "file that is not valid UTF-8 was stored with U+FFFD replacement characters",
                str(path.relative_to(self.root)),
            )
            return raw.decode("utf-8", "replace")

    def _yaml(self, path: Path) -> dict[str, Any] | None:
        try:
            data = yaml.load(self._text(path), Loader=_Loader)
        except UnsafeFileError as exc:
            self._warnings.add("file that is not read was skipped", str(exc))
            return None
        except (OSError, yaml.YAMLError) as exc:
            self._warnings.add(
                "unreadable meta.yaml skipped (fix or remove the file)",
                f"{path.relative_to(self.root)}: {type(exc).__name__}",
            )
            return None
        if not isinstance(data, dict):
            self._warnings.add(
                "meta.yaml without a mapping skipped", str(path.relative_to(self.root))
            )
            return None
        return data

    def _key_files(self, folder: Path) -> Iterator[tuple[str, Path]]:
        """Files under ``folder``; nested folders encode keys containing '/'.

        Links to folders are listed as files (``os.walk`` does not follow them), so reading
        them fails like any other link.
        """
        if not _real_dir(folder):
            return
        for dirpath, dirs, files in os.walk(folder):
            for name in files + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
                full = Path(dirpath) / name
                yield full.relative_to(folder).as_posix(), full

    def _experiment_dirs(self) -> Iterator[tuple[Path, bool]]:
        for base, deleted in ((self.root, False), (self.root / ".trash", True)):
            if not _real_dir(base):
                continue
            for child in sorted(base.iterdir()):
                if _real_dir(child) and child.name not in _SKIP_DIRS and _holds_runs(child):
                    yield child, deleted

    # -- experiments -----------------------------------------------------------------------

    def experiments(self) -> list[ExperimentRecord]:
        out = []
        for folder, in_trash in self._experiment_dirs():
            if not os.path.lexists(folder / "meta.yaml"):
                # Runs without their experiment's meta.yaml are still runs: they are
                # collected under a placeholder experiment, never dropped.
                self._warnings.add(
                    "experiment folder without meta.yaml (its runs are collected under a "
                    "placeholder experiment)",
                    self._rel(folder),
                )
                continue
            meta = self._yaml(folder / "meta.yaml")
            if meta is None:
                continue
            tags = self._files_or_skip(folder / "tags")
            stage = lifecycle_stage(meta.get("lifecycle_stage"), in_trash)
            if in_trash and stage != "deleted":
                self._warnings.add(
                    "experiment under .trash whose meta.yaml says it is active (kept active, "
                    "as MLflow reports it)",
                    folder.name,
                )
            out.append(
                ExperimentRecord(
                    experiment_id=str(meta.get("experiment_id", folder.name)),
                    name=str(meta.get("name") or folder.name),
                    artifact_location=meta.get("artifact_location"),
                    lifecycle_stage=stage,
                    created_ms=meta.get("creation_time"),
                    tags=tags,
                )
            )
        return out

    def _files_or_skip(self, folder: Path) -> dict[str, str]:
        """Texts of the files under ``folder``, skipping (with a warning) those not read."""
        out = {}
        for key, path in self._key_files(folder):
            try:
                out[key] = self._text(path)
            except UnsafeFileError as exc:
                self._warnings.add("file that is not read was skipped", str(exc))
        return out

    # -- runs ------------------------------------------------------------------------------

    def list_runs(self, cursor: dict[str, Any], *, full: bool) -> Iterator[RunHeader]:
        headers = []
        for exp_dir, exp_deleted in self._experiment_dirs():
            exp_id = exp_dir.name
            for run_dir in exp_dir.iterdir():
                meta_path = run_dir / "meta.yaml"
                if (
                    run_dir.name in _SKIP_DIRS
                    or not _real_dir(run_dir)
                    or not os.path.lexists(meta_path)
                ):
                    continue
                try:
                    header = self._header(run_dir, meta_path, exp_id, exp_deleted)
                except UnsafeFileError as exc:
                    self._warnings.quarantine("run", run_dir.name, exc.rel, exc.problem)
                    continue
                except (TypeError, ValueError) as exc:
                    self._warnings.quarantine(
                        "run", run_dir.name, "meta.yaml", f"{type(exc).__name__}: {exc}"[:200]
                    )
                    continue
                if header is not None:
                    headers.append(header)
        # A start time that is not a number sorts first; the collector quarantines it.
        headers.sort(key=lambda h: (h.start_ms if isinstance(h.start_ms, int) else -1, h.run_id))
        yield from headers

    def _header(
        self, run_dir: Path, meta_path: Path, exp_id: str, exp_deleted: bool
    ) -> RunHeader | None:
        meta = self._meta(meta_path)
        if meta is None:
            return None
        run_id = str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
        self._run_dirs[run_id] = (run_dir, "deleted" if exp_deleted else "")
        raw_status = meta.get("status")
        status = normalize_status(
            raw_status if isinstance(raw_status, int | str) else str(raw_status)
        )
        stamp = []
        for sub in ("metrics", "params", "tags"):
            for _key, path in self._key_files(run_dir / sub):
                st = path.lstat()
                stamp.append((sub, st.st_size, st.st_mtime_ns))
        stamp.sort()
        return RunHeader(
            run_id=run_id,
            experiment_id=str(meta.get("experiment_id", exp_id)),
            start_ms=meta.get("start_time"),
            status=status,
            signature=signature_of(
                status,
                meta.get("end_time"),
                meta.get("lifecycle_stage"),
                exp_deleted,
                meta_path.lstat().st_mtime_ns,
                *(f"{sub}:{size}:{mtime}" for sub, size, mtime in stamp),
            ),
        )

    def _meta(self, path: Path) -> dict[str, Any] | None:
        """A run's ``meta.yaml``; a file that is not read raises, a bad one quarantines."""
        try:
            data = yaml.load(self._text(path), Loader=_Loader)
        except yaml.YAMLError as exc:
            self._warnings.quarantine(
                "run", path.parent.name, "meta.yaml", f"is not YAML ({type(exc).__name__})"
            )
            return None
        if not isinstance(data, dict):
            self._warnings.quarantine(
                "run", path.parent.name, "meta.yaml", "must be a mapping of fields"
            )
            return None
        return data

    def read_runs(self, headers: list[RunHeader]) -> list[RunRecord]:
        out = []
        for h in headers:
            found = self._run_dirs.get(h.run_id)
            if found is None:
                continue
            try:
                record = self._read_run(found[0], h, force_deleted=bool(found[1]))
            except UnsafeFileError as exc:
                self._warnings.quarantine("run", h.run_id, exc.rel, exc.problem)
                continue
            if record is not None:
                out.append(record)
        return out

    def _read_run(
        self, run_dir: Path, header: RunHeader, *, force_deleted: bool
    ) -> RunRecord | None:
        meta = self._meta(run_dir / "meta.yaml")
        if meta is None:
            return None
        params = {k: self._text(p) for k, p in self._key_files(run_dir / "params")}
        tags = {k: self._text(p) for k, p in self._key_files(run_dir / "tags")}
        metrics: dict[str, MetricSeries] = {}
        for key, path in self._key_files(run_dir / "metrics"):
            points = []
            text = self._text(path, self._max_metric_bytes)
            for lineno, line in enumerate(text.splitlines(), 1):
                parts = line.split()
                if not parts:
                    continue
                try:
                    ts, value = int(parts[0]), float(parts[1])
                    step = int(parts[2]) if len(parts) >= 3 else 0
                except (ValueError, IndexError):
                    self._warnings.add(
                        "malformed metric line skipped",
                        f"{path.relative_to(self.root)}:{lineno}",
                    )
                    continue
                points.append((step, ts, value))
            if points:
                metrics[key] = MetricSeries.from_points(points)
        lifecycle = lifecycle_stage(meta.get("lifecycle_stage"), force_deleted)
        return RunRecord(
            run_id=header.run_id,
            experiment_id=header.experiment_id,
            name=kept_run_name(
                # MLflow reads ``run_name``; an old file's ``name`` is used when it says something.
                meta["run_name"] if "run_name" in meta else (meta.get("name") or None),
                tags,
            ),
            user=meta.get("user_id") or tags.get("mlflow.user") or None,
            status=header.status,
            start_ms=meta.get("start_time"),
            end_ms=meta.get("end_time"),
            lifecycle_stage=lifecycle,
            artifact_uri=meta.get("artifact_uri"),
            params=params,
            tags=tags,
            metrics=metrics,
            inputs=self._inputs(run_dir),
            signature=header.signature,
        )

    def _inputs(self, run_dir: Path) -> list[DatasetInput]:
        inputs_dir = run_dir / "inputs"
        if not _real_dir(inputs_dir):
            return []
        out = []
        for input_dir in sorted(inputs_dir.iterdir()):
            meta = self._yaml(input_dir / "meta.yaml") if _real_dir(input_dir) else None
            if not meta or meta.get("source_type") not in ("DATASET", 1, "1"):
                continue
            source_id = str(meta.get("source_id"))
            if "/" in source_id or source_id in ("", ".", ".."):
                self._warnings.add(
                    "run input with a dataset id that is not a folder name skipped",
                    show_value(source_id),
                )
                continue
            dataset_meta_path = run_dir.parent / "datasets" / source_id / "meta.yaml"
            dataset = self._yaml(dataset_meta_path) if _real_dir(dataset_meta_path.parent) else None
            if dataset is None:
                self._warnings.add("run input refers to a missing dataset", str(input_dir))
                continue
            tags = meta.get("tags") or {}
            out.append(
                DatasetInput(
                    name=str(dataset.get("name", "")),
                    digest=str(dataset.get("digest", "")),
                    source_type=dataset.get("source_type"),
                    source=dataset.get("source"),
                    schema=dataset.get("schema"),
                    profile=dataset.get("profile"),
                    context=str(tags.get("mlflow.data.context", ""))
                    if isinstance(tags, dict)
                    else "",
                )
            )
        out.sort(key=lambda d: (d.name, d.digest))
        return out

    # -- registry --------------------------------------------------------------------------

    def registry(self) -> RegistrySnapshot:
        snap = RegistrySnapshot()
        models = self.root / "models"
        if not _real_dir(models):
            return snap
        for model_dir in sorted(p for p in models.iterdir() if _real_dir(p)):
            meta = (
                self._yaml(model_dir / "meta.yaml")
                if os.path.lexists(model_dir / "meta.yaml")
                else None
            )
            if meta is None:
                continue
            name = str(meta.get("name") or model_dir.name)
            snap.model_updated_ms[name] = int(meta.get("last_updated_timestamp") or 0)
            for alias, text in self._files_or_skip(model_dir / "aliases").items():
                try:
                    snap.aliases[(name, alias)] = int(text.strip())
                except ValueError:
                    self._warnings.add(
                        "alias file without a version number skipped", f"{name}/{alias}"
                    )
            for version_dir in sorted(model_dir.glob("version-*")):
                vmeta = (
                    self._yaml(version_dir / "meta.yaml")
                    if _real_dir(version_dir) and os.path.lexists(version_dir / "meta.yaml")
                    else None
                )
                if vmeta is None:
                    continue
                stage = vmeta.get("current_stage")
                if stage == "Deleted_Internal":
                    continue
                snap.versions.append(
                    ModelVersionRecord(
                        model_name=name,
                        version=int(vmeta.get("version") or version_dir.name.split("-", 1)[1]),
                        run_id=vmeta.get("run_id") or None,
                        status=vmeta.get("status"),
                        stage=normalize_stage(stage),
                        source=vmeta.get("source"),
                        description=vmeta.get("description"),
                        created_ms=vmeta.get("creation_timestamp"),
                        updated_ms=vmeta.get("last_updated_timestamp"),
                        tags=self._files_or_skip(version_dir / "tags"),
                    )
                )
        snap.versions.sort(key=lambda v: (v.model_name, v.version))
        return snap
