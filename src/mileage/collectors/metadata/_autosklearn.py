"""auto-sklearn's meta-data: the best configuration found per dataset and metric, with the
37 meta-features auto-sklearn computes, and auto-sklearn 2.0's portfolios.

Layout (the ``auto-sklearn==0.15.0`` sdist, or a copy of its folders):

* ``metalearning/<metric>_<binary.classification|regression>_<dense|sparse>/`` (in the
  sdist ``autosklearn/metalearning/files/``): ``feature_values.arff`` (meta-features of
  each dataset, named by dataset), ``configurations.csv`` (configurations by index) and
  ``algorithm_runs.arff`` (per dataset: the index of its best configuration and its cost,
  ``1 - score`` for scores, the value itself for errors). ``multiclass`` folders repeat the
  ``binary`` ones and are skipped when identical.
* ``portfolios/<metric>/askl2_portfolios/*.json`` (in the sdist
  ``autosklearn/experimental/<metric>/askl2_portfolios/``): 32-configuration portfolios per
  search strategy, with the OpenML tasks each configuration was tuned on.

auto-sklearn computed its meta-features on its training split, so ``n_instances`` is about
two thirds of OpenML's ``NumberOfInstances``; a dataset's profile says so.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from mileage.collectors.metadata._base import (
    ConfigSpec,
    DatasetSpec,
    MetadataBatch,
    PortfolioSpec,
    RunSpec,
    TaskSpec,
    read_csv_rows,
)
from mileage.platform.errors import ConfigError, DataError
from mileage.platform.vocabulary import (
    from_autosklearn_cost,
    meta_features_from_autosklearn,
    problem_type,
)

_FOLDER = re.compile(
    r"^(?P<metric>.+)_(?P<task>binary\.classification|multiclass\.classification|regression)_(?P<repr>dense|sparse)$"
)
_FILES = ("feature_values.arff", "configurations.csv", "algorithm_runs.arff")
#: auto-sklearn run status -> ours; a metric that does not apply (binary F1 on a multiclass
#: dataset) is not a failure.
_STATUS = {"ok": "FINISHED", "not_applicable": "SKIPPED"}


def _arff(path: Path) -> tuple[list[str], list[list[Any]]]:
    import arff

    try:
        with path.open(encoding="utf-8") as fh:
            data = arff.load(fh)
    except (arff.ArffException, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable ARFF file ({exc})") from None
    return [a[0] for a in data["attributes"]], list(data["data"])


def _learner(params: dict[str, Any]) -> str:
    choice = params.get("classifier:__choice__") or params.get("regressor:__choice__") or "pipeline"
    return f"autosklearn.{choice}"


def _value(text: str) -> Any:
    """configurations.csv holds text: numbers become numbers, the rest stays text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


class AutoSklearn:
    """Importer of auto-sklearn's meta-data (see the module docstring)."""

    name = "autosklearn"
    description = "auto-sklearn 0.15.0: best configuration per dataset and metric, 37 meta-features"
    package: str | None = "auto-sklearn==0.15.0"

    def locate(self, path: Path) -> Path:
        for candidate in (path, *sorted(p for p in path.glob("*") if p.is_dir())):
            if (candidate / "metalearning").is_dir() or (
                candidate / "autosklearn" / "metalearning" / "files"
            ).is_dir():
                return candidate
        raise ConfigError(
            f"{str(path)!r} holds neither metalearning/ nor autosklearn/metalearning/files/; pass "
            "an unpacked auto-sklearn 0.15.0 sdist or the shared reference data's autosklearn-metadata."
        )

    def _metalearning(self, root: Path) -> Path:
        plain = root / "metalearning"
        return plain if plain.is_dir() else root / "autosklearn" / "metalearning" / "files"

    def _portfolio_folders(self, root: Path) -> list[tuple[str, Path]]:
        out = []
        for base in (root / "portfolios", root / "autosklearn" / "experimental"):
            if base.is_dir():
                for metric_dir in sorted(
                    p for p in base.iterdir() if (p / "askl2_portfolios").is_dir()
                ):
                    out.append((metric_dir.name, metric_dir / "askl2_portfolios"))
        return out

    def _folders(self, root: Path) -> list[Path]:
        meta = self._metalearning(root)
        folders = sorted(p for p in meta.iterdir() if p.is_dir() and _FOLDER.match(p.name))
        kept = []
        names = {p.name for p in folders}
        for folder in folders:
            twin = folder.name.replace("multiclass.classification", "binary.classification")
            if twin != folder.name and twin in names and _same(folder, meta / twin):
                continue  # identical to its binary twin
            kept.append(folder)
        return kept

    def files(self, root: Path) -> list[Path]:
        out = [f / name for f in self._folders(root) for name in _FILES if (f / name).is_file()]
        out += [
            p for _, folder in self._portfolio_folders(root) for p in sorted(folder.glob("*.json"))
        ]
        return out

    def read(self, root: Path) -> MetadataBatch:
        batch = MetadataBatch()
        datasets: dict[str, DatasetSpec] = {}
        configs: dict[str, ConfigSpec] = {}
        for folder in self._folders(root):
            match = _FOLDER.match(folder.name)
            assert match is not None
            kind = "regression" if match["task"] == "regression" else "classification"
            missing = [name for name in _FILES if not (folder / name).is_file()]
            if missing:
                batch.warnings.add(
                    "meta-data folder without its files (skipped)", f"{folder.name}: {missing}"
                )
                continue
            try:
                metric, _ = from_autosklearn_cost(match["metric"], 0.0)
            except KeyError:
                batch.warnings.add(
                    "folder of a metric outside the vocabulary (skipped)", folder.name
                )
                continue
            self._features(folder, kind, datasets, batch)
            local = self._configurations(folder, configs)
            self._runs(folder, kind, match["metric"], metric, match["repr"], local, datasets, batch)
        self._portfolios(root, configs, batch)
        batch.datasets = list(datasets.values())
        batch.configurations = list(configs.values())
        batch.tasks = [
            TaskSpec(
                external_id=d.external_id,
                dataset=d.external_id,
                problem_type=problem_type(d.profile["kind"], d.meta_features.get("n_classes"))
                if d.profile["kind"] == "classification"
                else "regression",
                name=d.name,
                meta={"kind": d.profile["kind"]},
            )
            for d in batch.datasets
        ]
        return batch

    def _features(
        self, folder: Path, kind: str, datasets: dict[str, DatasetSpec], batch: MetadataBatch
    ) -> None:
        names, rows = _arff(folder / "feature_values.arff")
        for row in rows:
            values = dict(zip(names, row))
            instance = str(values.pop("instance_id", ""))
            values.pop("repetition", None)
            key = f"{kind}/{instance}"
            features = meta_features_from_autosklearn(values)
            known = datasets.get(key)
            if known is None:
                datasets[key] = DatasetSpec(
                    external_id=key,
                    name=instance,
                    meta_features=features,
                    profile={
                        "kind": kind,
                        "meta_feature_basis": "auto-sklearn's training split",
                    },
                )
            elif known.meta_features != features:
                batch.warnings.add(
                    "dataset with different meta-features in two folders (the first is kept)",
                    f"{key} in {folder.name}",
                )

    def _configurations(self, folder: Path, configs: dict[str, ConfigSpec]) -> dict[str, str]:
        local = {}
        for row in read_csv_rows(folder / "configurations.csv"):
            idx = row.pop("idx", None)
            if idx is None:
                raise DataError(f"{folder / 'configurations.csv'}: no idx column")
            params = {k: _value(v) for k, v in row.items() if k and v not in ("", None)}
            ext = f"{folder.name}/{idx}"
            configs[ext] = ConfigSpec(
                external_id=ext, name=ext, learner=_learner(params), params=params
            )
            local[idx] = ext
        return local

    def _runs(
        self,
        folder: Path,
        kind: str,
        askl_metric: str,
        metric: str,
        representation: str,
        local: dict[str, str],
        datasets: dict[str, DatasetSpec],
        batch: MetadataBatch,
    ) -> None:
        names, rows = _arff(folder / "algorithm_runs.arff")
        for row in rows:
            values = dict(zip(names, row))
            instance = str(values.get("instance_id"))
            algorithm = str(values.get("algorithm"))
            if algorithm.endswith(".0"):
                algorithm = algorithm[:-2]
            key = f"{kind}/{instance}"
            if key not in datasets:
                batch.warnings.add(
                    "run on a dataset without meta-features (kept)", f"{folder.name}/{instance}"
                )
                datasets[key] = DatasetSpec(
                    key, instance, {}, {"kind": kind, "meta_feature_basis": "missing"}
                )
            cost = values.get(askl_metric)
            status = str(values.get("runstatus") or "ok")
            metrics: dict[str, tuple[list[int], list[float]]] = {}
            if isinstance(cost, int | float):
                metrics[metric] = ([0], [from_autosklearn_cost(askl_metric, float(cost))[1]])
            config = local.get(algorithm)
            if config is None:
                batch.warnings.add(
                    "run of an unknown configuration index (kept without one)",
                    f"{folder.name}/{algorithm}",
                )
            batch.runs.append(
                RunSpec(
                    external_id=f"{folder.name}/{instance}/{algorithm}",
                    task=key,
                    configuration=config,
                    metrics=metrics,
                    status=_STATUS.get(status, "FAILED"),
                    tags={
                        "autosklearn.metric": askl_metric,
                        "autosklearn.representation": representation,
                        "autosklearn.runstatus": status,
                    },
                )
            )

    def _portfolios(self, root: Path, configs: dict[str, ConfigSpec], batch: MetadataBatch) -> None:
        for metric, folder in self._portfolio_folders(root):
            for path in sorted(folder.glob("*.json")):
                try:
                    data = json.loads(path.read_text(encoding="utf-8"))
                    portfolio = dict(data["portfolio"])
                except (ValueError, KeyError, TypeError) as exc:
                    batch.warnings.add("unreadable portfolio (skipped)", f"{path.name}: {exc}")
                    continue
                tasks = data.get("config_to_task") or {}
                name = f"askl2/{metric}/{path.stem}"
                for position, (key, params) in enumerate(portfolio.items()):
                    ext = f"askl2/{key}"
                    configs.setdefault(
                        ext,
                        ConfigSpec(
                            external_id=ext, name=ext, learner=_learner(params), params=dict(params)
                        ),
                    )
                    batch.portfolios.append(
                        PortfolioSpec(
                            name,
                            position,
                            ext,
                            {"key": key, "tuned_on_openml_tasks": tasks.get(key, [])},
                        )
                    )


def _same(a: Path, b: Path) -> bool:
    def digest(folder: Path) -> str:
        h = hashlib.sha256()
        for name in _FILES:
            path = folder / name
            h.update(path.read_bytes() if path.is_file() else b"-")
        return h.hexdigest()

    return digest(a) == digest(b)
