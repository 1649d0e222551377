"""Direct reader of an MLflow file store (an ``mlruns/`` folder) written by any MLflow version.

Tolerates what old and hand-edited stores contain: numeric run statuses, missing end times,
two-field metric lines (no step), foreign absolute artifact paths, deleted experiments in
``.trash``, and bytes that are not UTF-8. Problems are reported as warnings; files are only
read, never written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mileage.collectors._base import WarningLog
from mileage.collectors.mlflow._records import (
    DatasetInput,
    ExperimentRecord,
    MetricSeries,
    ModelVersionRecord,
    RegistrySnapshot,
    RunHeader,
    RunRecord,
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


def looks_like_file_store(path: Path) -> bool:
    """Whether ``path`` is an ``mlruns/`` folder (experiment folders with ``meta.yaml``)."""
    if not path.is_dir():
        return False
    return any((child / "meta.yaml").is_file() for child in path.iterdir() if child.is_dir())


class FileStoreReader:
    """Reader of an ``mlruns/`` folder."""

    kind = "filestore"
    full_listing = True

    def __init__(self, root: Path, warnings: WarningLog) -> None:
        self.root = root.resolve()
        self.uri = self.root.as_uri()
        self._warnings = warnings
        if not looks_like_file_store(self.root):
            raise CollectorError(
                f"{str(self.root)!r} is not an MLflow file store: it has no experiment "
                "folders with a meta.yaml. Point --tracking-uri at the 'mlruns' folder."
            )
        self._run_dirs: dict[str, tuple[Path, str]] = {}

    def close(self) -> None:
        self._run_dirs.clear()

    # -- low-level reads -------------------------------------------------------------------

    def _text(self, path: Path) -> str:
        raw = path.read_bytes()
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
        """Files under ``folder``; nested folders encode keys containing '/'."""
        if not folder.is_dir():
            return
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                full = Path(dirpath) / name
                yield full.relative_to(folder).as_posix(), full

    def _experiment_dirs(self) -> Iterator[tuple[Path, bool]]:
        for base, deleted in ((self.root, False), (self.root / ".trash", True)):
            if not base.is_dir():
                continue
            for child in sorted(base.iterdir()):
                if (
                    child.is_dir()
                    and child.name not in _SKIP_DIRS
                    and (child / "meta.yaml").is_file()
                ):
                    yield child, deleted

    # -- experiments -----------------------------------------------------------------------

    def experiments(self) -> list[ExperimentRecord]:
        out = []
        for folder, deleted in self._experiment_dirs():
            meta = self._yaml(folder / "meta.yaml")
            if meta is None:
                continue
            tags = {k: self._text(p) for k, p in self._key_files(folder / "tags")}
            out.append(
                ExperimentRecord(
                    experiment_id=str(meta.get("experiment_id", folder.name)),
                    name=str(meta.get("name") or folder.name),
                    artifact_location=meta.get("artifact_location"),
                    lifecycle_stage="deleted"
                    if deleted
                    else str(meta.get("lifecycle_stage") or "active"),
                    created_ms=meta.get("creation_time"),
                    tags=tags,
                )
            )
        return out

    # -- runs ------------------------------------------------------------------------------

    def list_runs(self, cursor: dict[str, Any], *, full: bool) -> Iterator[RunHeader]:
        headers = []
        for exp_dir, exp_deleted in self._experiment_dirs():
            exp_id = exp_dir.name
            for run_dir in exp_dir.iterdir():
                meta_path = run_dir / "meta.yaml"
                if run_dir.name in _SKIP_DIRS or not meta_path.is_file():
                    continue
                meta = self._yaml(meta_path)
                if meta is None:
                    continue
                run_id = str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name)
                self._run_dirs[run_id] = (run_dir, "deleted" if exp_deleted else "")
                status = normalize_status(meta.get("status"))
                stamp = []
                for sub in ("metrics", "params", "tags"):
                    for _key, path in self._key_files(run_dir / sub):
                        st = path.stat()
                        stamp.append((sub, st.st_size, st.st_mtime_ns))
                stamp.sort()
                headers.append(
                    RunHeader(
                        run_id=run_id,
                        experiment_id=str(meta.get("experiment_id", exp_id)),
                        start_ms=meta.get("start_time"),
                        status=status,
                        signature=signature_of(
                            status,
                            meta.get("end_time"),
                            meta.get("lifecycle_stage"),
                            exp_deleted,
                            meta_path.stat().st_mtime_ns,
                            *(f"{sub}:{size}:{mtime}" for sub, size, mtime in stamp),
                        ),
                    )
                )
        headers.sort(key=lambda h: (h.start_ms if h.start_ms is not None else -1, h.run_id))
        yield from headers

    def read_runs(self, headers: list[RunHeader]) -> list[RunRecord]:
        out = []
        for h in headers:
            found = self._run_dirs.get(h.run_id)
            if found is None:
                continue
            record = self._read_run(found[0], h, force_deleted=bool(found[1]))
            if record is not None:
                out.append(record)
        return out

    def _read_run(
        self, run_dir: Path, header: RunHeader, *, force_deleted: bool
    ) -> RunRecord | None:
        meta = self._yaml(run_dir / "meta.yaml")
        if meta is None:
            return None
        params = {k: self._text(p) for k, p in self._key_files(run_dir / "params")}
        tags = {k: self._text(p) for k, p in self._key_files(run_dir / "tags")}
        metrics: dict[str, MetricSeries] = {}
        for key, path in self._key_files(run_dir / "metrics"):
            points = []
            for lineno, line in enumerate(self._text(path).splitlines(), 1):
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
        lifecycle = "deleted" if force_deleted else str(meta.get("lifecycle_stage") or "active")
        return RunRecord(
            run_id=header.run_id,
            experiment_id=header.experiment_id,
            name=(meta.get("run_name") or meta.get("name") or tags.get("mlflow.runName") or None),
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
        if not inputs_dir.is_dir():
            return []
        out = []
        for input_dir in sorted(inputs_dir.iterdir()):
            meta = (
                self._yaml(input_dir / "meta.yaml") if (input_dir / "meta.yaml").is_file() else None
            )
            if not meta or meta.get("source_type") not in ("DATASET", 1, "1"):
                continue
            dataset_meta_path = (
                run_dir.parent / "datasets" / str(meta.get("source_id")) / "meta.yaml"
            )
            dataset = self._yaml(dataset_meta_path) if dataset_meta_path.is_file() else None
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
        if not models.is_dir():
            return snap
        for model_dir in sorted(p for p in models.iterdir() if p.is_dir()):
            meta = (
                self._yaml(model_dir / "meta.yaml") if (model_dir / "meta.yaml").is_file() else None
            )
            if meta is None:
                continue
            name = str(meta.get("name") or model_dir.name)
            snap.model_updated_ms[name] = int(meta.get("last_updated_timestamp") or 0)
            for alias, path in self._key_files(model_dir / "aliases"):
                try:
                    snap.aliases[(name, alias)] = int(self._text(path).strip())
                except ValueError:
                    self._warnings.add("alias file without a version number skipped", str(path))
            for version_dir in sorted(model_dir.glob("version-*")):
                vmeta = (
                    self._yaml(version_dir / "meta.yaml")
                    if (version_dir / "meta.yaml").is_file()
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
                        tags={k: self._text(p) for k, p in self._key_files(version_dir / "tags")},
                    )
                )
        snap.versions.sort(key=lambda v: (v.model_name, v.version))
        return snap
