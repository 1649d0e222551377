"""FLAML's zero-shot portfolios and their nearest-neighbour tables.

Layout (``flaml/default`` of the ``flaml==2.7.0`` wheel): ``<learner>/<binary|multiclass|
regression>.json`` with

* ``portfolio``: configurations (``class`` and ``hyperparameters``), each tuned on the
  dataset named at the same position of ``configsource``;
* ``neighbors``: datasets described by four standardised meta-features
  (``meta_feature_names``; raw value = feature * scale + center, from ``preprocessing``)
  with the portfolio positions FLAML chooses for them, best first.

Neighbour datasets carry no names; the same meta-feature vector in two files is one dataset.
Each choice is stored as a run scored by ``portfolio_rank`` (1 = FLAML's first choice).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mileage.collectors.metadata._base import (
    ConfigSpec,
    DatasetSpec,
    MetadataBatch,
    PortfolioSpec,
    RunSpec,
    TaskSpec,
)
from mileage.platform.errors import ConfigError
from mileage.platform.fingerprint import fingerprint
from mileage.platform.vocabulary import PROBLEM_TYPES, lightgbm_params, meta_features_from_flaml

#: FLAML's estimator names -> ours.
ALGORITHMS = {
    "lgbm": "lightgbm",
    "rf": "random_forest",
    "extra_tree": "extra_trees",
    "xgboost": "xgboost",
    "xgb_limitdepth": "xgboost_limitdepth",
    "catboost": "catboost",
    "kneighbor": "knn",
    "lrl1": "logistic_regression_l1",
    "lrl2": "logistic_regression_l2",
}


def _config(entry: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    algo = str(entry.get("class", "unknown"))
    params = dict(entry.get("hyperparameters") or {})
    ours = ALGORITHMS.get(algo, algo)
    if ours == "lightgbm":
        params = lightgbm_params(params)
    return f"flaml.{ours}", params


class FlamlZeroShot:
    """Importer of FLAML's zero-shot meta-data (see the module docstring)."""

    name = "flaml-zeroshot"
    description = "FLAML 2.7.0 zero-shot portfolios with their nearest-neighbour tables"
    package: str | None = "flaml==2.7.0"

    def locate(self, path: Path) -> Path:
        for candidate in (path, path / "flaml" / "default", path / "default"):
            if any(next(candidate.glob(f"*/{kind}.json"), None) for kind in PROBLEM_TYPES):
                return candidate
        raise ConfigError(
            f"{str(path)!r} holds no <learner>/<binary|multiclass|regression>.json files; pass "
            "flaml/default from the flaml 2.7.0 wheel or the shared reference data's flaml-zeroshot."
        )

    def files(self, root: Path) -> list[Path]:
        return sorted(p for kind in PROBLEM_TYPES for p in root.glob(f"*/{kind}.json"))

    def read(self, root: Path) -> MetadataBatch:
        batch = MetadataBatch()
        datasets: dict[str, DatasetSpec] = {}
        configs: dict[str, ConfigSpec] = {}
        for path in self.files(root):
            learner_dir, kind = path.parent.name, path.stem
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                names = list(data["meta_feature_names"])
                center = [float(v) for v in data["preprocessing"]["center"]]
                scale = [float(v) for v in data["preprocessing"]["scale"]]
                portfolio = list(data["portfolio"])
            except (ValueError, KeyError, TypeError) as exc:
                batch.warnings.add(
                    "unreadable FLAML file (skipped)", f"{learner_dir}/{kind}: {exc}"
                )
                continue
            sources = list(data.get("configsource") or [])
            seen: dict[str, int] = {}
            local = []
            for position, entry in enumerate(portfolio):
                learner, params = _config(entry)
                ext = f"{learner_dir}/{kind}/{position}"
                configs[ext] = ConfigSpec(external_id=ext, name=ext, learner=learner, params=params)
                local.append(ext)
                batch.portfolios.append(
                    PortfolioSpec(
                        f"flaml/{learner_dir}/{kind}",
                        position,
                        ext,
                        {"tuned_on": sources[position] if position < len(sources) else None},
                    )
                )
            for neighbor in data.get("neighbors") or []:
                try:
                    raw = [
                        f * s + c
                        for f, s, c in zip(neighbor["features"], scale, center, strict=True)
                    ]
                    choice = [int(i) for i in neighbor["choice"]]
                except (KeyError, TypeError, ValueError) as exc:
                    batch.warnings.add(
                        "unreadable neighbour (skipped)", f"{learner_dir}/{kind}: {exc}"
                    )
                    continue
                features = meta_features_from_flaml(dict(zip(names, raw)))
                key = f"{kind}/{fingerprint([kind, {k: round(v, 9) for k, v in features.items()}])[:12]}"
                seen[key] = seen.get(key, -1) + 1
                if seen[key]:  # two neighbours with equal meta-features: the n-th in each file
                    key = f"{key}-{seen[key]}"
                datasets.setdefault(
                    key,
                    DatasetSpec(
                        key, f"FLAML {kind} neighbour {key.split('/')[1]}", features, {"kind": kind}
                    ),
                )
                for rank, index in enumerate(choice):
                    if not 0 <= index < len(local):
                        batch.warnings.add(
                            "choice outside the portfolio (skipped)",
                            f"{learner_dir}/{kind}: {index}",
                        )
                        continue
                    batch.runs.append(
                        RunSpec(
                            external_id=f"{learner_dir}/{key}/{rank}",
                            task=key,
                            configuration=local[index],
                            metrics={"portfolio_rank": ([0], [float(rank + 1)])},
                            tags={"flaml.learner": learner_dir},
                        )
                    )
        batch.datasets = list(datasets.values())
        batch.configurations = list(configs.values())
        batch.tasks = [
            TaskSpec(
                external_id=d.external_id,
                dataset=d.external_id,
                problem_type=d.profile["kind"],
                metric="portfolio_rank",
                name=d.name,
            )
            for d in batch.datasets
        ]
        return batch
