"""Benchmark: how well is a model's metric estimated before its labels arrive?

A label-delay scenario on real data with known drift. Each data set is split into a training
part (the model), a labelled held-out reference (scored by the model: what the estimators are
calibrated on) and a sequence of batches that drift:

* ``seattle-weather`` (vega_datasets): weather type (5 classes) from the day's measurements
  and the season; trained on 2012, reference 2013, batches = the months of 2014 and 2015 (real
  change: 2015 was a record warm year, and the labels' use of drizzle and fog changes after
  2013, a concept change no label-free estimate can see);
* ``cars`` (vega_datasets): miles per gallon (regression); trained on model years 1970-1972,
  reference 1973-1975, batches = the model years 1976 to 1982 (lighter, more efficient cars);
* ``randhie`` (statsmodels): any doctor visit (binary); batches ordered by the number of chronic
  diseases (a real covariate: rows are selected, not altered);
* ``fair`` (statsmodels): an affair reported (binary); batches ordered by years married.

Labels arrive ``--delay`` batches after their predictions. Per batch, the realised metric
(accuracy, ROC AUC for binary models; MAE for the regressor) is compared with the estimate of
Mileage (``mileage.monitors.checks.fit_estimator``: CBPE with isotonic/Platt calibration; a
LightGBM model of the absolute error) and of NannyML (CBPE and DLE, default settings) on the
same batches. An SLO (the reference's metric minus 0.05 accuracy, or its MAE plus 25%) is
breached when a batch's realised metric crosses it; the estimate *signals* a breach when its
estimate crosses it, available at once, while labels confirm it ``--delay`` batches later.

NannyML needs ``lightgbm<4.6`` and Mileage ``lightgbm>=4.7``, so NannyML runs in its own
environment (``--nannyml-python``, default ``$NANNYML_PYTHON``); the frames go through Parquet
files. Without it the NannyML columns are left empty and the run says so.

Run: ``python benchmarks/monitor_estimation.py`` (``--quick``: three data sets, fewer
batches). Writes ``benchmarks/results/monitor_estimation.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("DO_NOT_TRACK", "1")
warnings.simplefilter("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, machine_line, table, write_results  # noqa: E402
from mileage.monitors.checks import fit_estimator, parse_probability_columns  # noqa: E402

HERE = Path(__file__).resolve().parent


@dataclass
class Scenario:
    name: str
    task: str  # binary | multiclass | regression
    features: list[str]
    categorical: list[str]
    train: pd.DataFrame  # label column "label"
    reference: pd.DataFrame
    batches: list[tuple[str, pd.DataFrame]]
    drift: str


def _ordered(
    frame: pd.DataFrame, by: str, n_batches: int, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, pd.DataFrame]]]:
    """Random training and reference thirds; the rest in batches ordered by ``by``."""
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    a, b = len(frame) // 3, 2 * len(frame) // 3
    rest = frame.iloc[b:].copy()
    rest["__tie__"] = np.random.default_rng(seed).random(len(rest))
    rest = rest.sort_values([by, "__tie__"]).drop(columns="__tie__").reset_index(drop=True)
    parts = np.array_split(np.arange(len(rest)), n_batches)
    batches = [
        (f"{by} {rest[by].iloc[p[0]]:g}-{rest[by].iloc[p[-1]]:g}", rest.iloc[p]) for p in parts
    ]
    return frame.iloc[:a], frame.iloc[a:b], batches


def scenarios(quick: bool) -> list[Scenario]:
    import statsmodels.api as sm
    from vega_datasets import local_data

    out = []
    w = local_data.seattle_weather()
    season = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring"}
    season |= {6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}
    w["season"] = w["date"].dt.month.map(season)
    w = w.rename(columns={"weather": "label"})
    year, month = w["date"].dt.year, w["date"].dt.to_period("M").astype(str)
    feats = ["precipitation", "temp_max", "temp_min", "wind", "season"]
    months = sorted(month[year >= 2014].unique())
    months = months[::3] if quick else months
    out.append(
        Scenario(
            "seattle-weather",
            "multiclass",
            feats,
            ["season"],
            w[year == 2012][[*feats, "label"]],
            w[year == 2013][[*feats, "label"]],
            [(m, w[month == m][[*feats, "label"]]) for m in months],
            "time: 2014-2015 by month (warm 2015; label use changes after 2013)",
        )
    )
    cars = local_data.cars().dropna(subset=["Miles_per_Gallon"])
    cars["year"] = cars["Year"].dt.year
    cars = cars.rename(columns={"Miles_per_Gallon": "label"})
    feats = ["Cylinders", "Displacement", "Horsepower", "Weight_in_lbs", "Acceleration", "Origin"]
    cars = cars[[*feats, "year", "label"]]
    out.append(
        Scenario(
            "cars",
            "regression",
            feats,
            ["Origin"],
            cars[cars.year <= 1972],
            cars[(cars.year >= 1973) & (cars.year <= 1975)],
            [(str(y), cars[cars.year == y]) for y in sorted(set(cars.year)) if y >= 1976],
            "time: model years 1976-1982 (lighter, more efficient cars)",
        )
    )
    fair = sm.datasets.fair.load_pandas().data.copy()
    fair["label"] = (fair.pop("affairs") > 0).astype(int)
    feats = [c for c in fair.columns if c != "label"]
    train, ref, batches = _ordered(fair, "yrs_married", 6 if quick else 10)
    out.append(
        Scenario(
            "fair",
            "binary",
            feats,
            [],
            train,
            ref,
            batches,
            "covariate: batches ordered by years married",
        )
    )
    if not quick:
        r = sm.datasets.randhie.load_pandas().data.copy()
        r["label"] = (r.pop("mdvis") > 0).astype(int)
        feats = [c for c in r.columns if c != "label"]
        train, ref, batches = _ordered(r, "disea", 10)
        out.append(
            Scenario(
                "randhie",
                "binary",
                feats,
                [],
                train,
                ref,
                batches,
                "covariate: batches ordered by number of chronic diseases",
            )
        )
    return out


class Model:
    """Histogram gradient boosting on ordinal-encoded categoricals, fitted on the training part."""

    def __init__(self, sc: Scenario) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OrdinalEncoder

        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        ct = ColumnTransformer([("cat", enc, sc.categorical)], remainder="passthrough")
        est = (
            HistGradientBoostingRegressor(max_iter=100, random_state=0)
            if sc.task == "regression"
            else HistGradientBoostingClassifier(max_iter=100, random_state=0)
        )
        self.features, self.task = sc.features, sc.task
        self.pipe = Pipeline([("ct", ct), ("m", est)]).fit(sc.train[sc.features], sc.train["label"])

    def score(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = frame[self.features]
        out = frame.reset_index(drop=True).copy()
        out["prediction"] = self.pipe.predict(x)
        if self.task == "binary":
            out["score"] = self.pipe.predict_proba(x)[:, 1]
        elif self.task == "multiclass":
            for c, p in zip(self.pipe.classes_, self.pipe.predict_proba(x).T):
                out[f"p_{c}"] = p
        return out

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.pipe.classes_]


def realised(frame: pd.DataFrame, task: str) -> dict[str, float]:
    from sklearn.metrics import roc_auc_score

    if task == "regression":
        return {"mae": float((frame["label"] - frame["prediction"]).abs().mean())}
    out = {"accuracy": float((frame["label"] == frame["prediction"]).mean())}
    if task == "binary" and frame["label"].nunique() == 2:
        out["roc_auc"] = float(roc_auc_score(frame["label"], frame["score"]))
    return out


def ours(sc: Scenario, model: Model, ref: pd.DataFrame, batches: list[pd.DataFrame]) -> Any:
    started = time.perf_counter()
    probs = (
        {"": "score"}
        if sc.task == "binary"
        else parse_probability_columns([f"{c}=p_{c}" for c in model.classes])
        if sc.task == "multiclass"
        else {}
    )
    est = fit_estimator(
        ref,
        metric="mae" if sc.task == "regression" else "accuracy",
        features=sc.features,
        label_column="label",
        prediction_column="prediction",
        probability_columns=probs,
    )
    fit = time.perf_counter() - started
    rows = []
    for b in batches:
        e = est.estimate(b)
        rows.append(
            {k.removesuffix("_estimated"): v for k, v in e.items() if k.endswith("_estimated")}
        )
    return rows, {"fit_seconds": fit, "estimate_seconds": time.perf_counter() - started - fit}


def nannyml_spec(
    sc: Scenario, model: Model, ref: pd.DataFrame, batches: list[pd.DataFrame], tmp: Path
) -> dict[str, Any]:
    """What the NannyML runner needs for one scenario (frames written to ``tmp``)."""

    def put(frame: pd.DataFrame, name: str) -> str:
        path = str(tmp / f"{sc.name}-{name}.parquet")
        frame.to_parquet(path)
        return path

    spec: dict[str, Any] = {
        "reference": put(ref, "reference"),
        "batches": [put(b.drop(columns=["label"]), f"b{i}") for i, b in enumerate(batches)],
        "features": sc.features,
        "categorical": sc.categorical,
    }
    if sc.task == "regression":
        return spec | {"kind": "dle", "metrics": ["mae"]}
    if sc.task == "binary":
        return spec | {
            "kind": "cbpe",
            "problem_type": "classification_binary",
            "y_pred_proba": "score",
            "metrics": ["accuracy", "roc_auc"],
        }
    return spec | {
        "kind": "cbpe",
        "problem_type": "classification_multiclass",
        "y_pred_proba": {c: f"p_{c}" for c in model.classes},
        "metrics": ["accuracy"],
    }


def nannyml(specs: list[dict[str, Any]], python: str | None, tmp: Path) -> list[Any] | str:
    """NannyML's estimates per spec, in one process of its own environment; or why not."""
    if not python:
        return "NannyML not run: no --nannyml-python (or $NANNYML_PYTHON) given"
    path = tmp / "specs.json"
    path.write_text(json.dumps(specs))
    done = subprocess.run(
        [python, str(HERE / "_nannyml_runner.py"), str(path)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
        env={**os.environ, "PYTHONPATH": ""},
    )
    if done.returncode != 0:
        return f"NannyML failed: {done.stderr.strip().splitlines()[-1:]}"
    return list(json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass
class Prepared:
    sc: Scenario
    model: Model
    ref: pd.DataFrame
    batches: list[pd.DataFrame]


def prepare(sc: Scenario) -> Prepared:
    model = Model(sc)
    return Prepared(sc, model, model.score(sc.reference), [model.score(b) for _, b in sc.batches])


def run(p: Prepared, args: argparse.Namespace, nml: dict[str, Any] | str) -> dict[str, Any]:
    sc, model, ref, batches = p.sc, p.model, p.ref, p.batches
    names = [n for n, _ in sc.batches]
    truth = [realised(b, sc.task) for b in batches]
    base = realised(ref, sc.task)
    mine, timing = ours(sc, model, ref, batches)
    theirs = None if isinstance(nml, str) else nml["batches"]
    note = nml if isinstance(nml, str) else f"NannyML fit {nml['fit_seconds']:.2f} s"
    metric = "mae" if sc.task == "regression" else "accuracy"
    slo = base[metric] * 1.25 if metric == "mae" else base[metric] - 0.05
    per_batch = []
    for i, name in enumerate(names):
        per_batch.append(
            {
                "batch": name,
                "rows": len(batches[i]),
                "realised": truth[i],
                "ours": mine[i],
                "nannyml": theirs[i] if theirs else None,
            }
        )
    summary: dict[str, Any] = {"metric": metric, "reference": base, "slo": slo, "note": note}
    for m in [metric, "roc_auc"] if sc.task == "binary" else [metric]:
        pairs = [(t.get(m), o.get(m)) for t, o in zip(truth, mine)]
        summary[f"ours_mae_{m}"] = _mae(pairs)
        if theirs:
            summary[f"nannyml_mae_{m}"] = _mae(
                [(t.get(m), o.get(m)) for t, o in zip(truth, theirs)]
            )
        summary[f"no_change_mae_{m}"] = _mae([(t.get(m), base.get(m)) for t in truth])
    summary["breach"] = breach(
        [t[metric] for t in truth],
        {"ours": [o.get(metric) for o in mine]}
        | ({"nannyml": [o.get(metric) for o in theirs]} if theirs else {}),
        slo,
        metric,
        args.delay,
    )
    summary["timing"] = timing
    return {
        "dataset": sc.name,
        "task": sc.task,
        "drift": sc.drift,
        "summary": summary,
        "batches": per_batch,
    }


def _mae(pairs: list[tuple[float | None, float | None]]) -> float | None:
    ok = [(a, b) for a, b in pairs if a is not None and b is not None]
    return float(np.mean([abs(a - b) for a, b in ok])) if ok else None


def breach(
    truth: list[float], estimates: dict[str, list[Any]], slo: float, metric: str, delay: int
) -> dict[str, Any]:
    """First batch whose realised metric breaks the SLO, when labels confirm it, and when each
    estimate first signalled a breach (batches of lead; None: never signalled)."""

    def broken(v: float | None) -> bool:
        return v is not None and (v > slo if metric == "mae" else v < slo)

    first = next((i for i, v in enumerate(truth) if broken(v)), None)
    out: dict[str, Any] = {
        "first_breach_batch": first,
        "confirmed_by_labels_at": None if first is None else first + delay,
    }
    for who, values in estimates.items():
        signal = next((i for i, v in enumerate(values) if broken(v)), None)
        false = sum(broken(v) and not broken(t) for v, t in zip(values, truth))
        out[who] = {
            "first_signal_batch": signal,
            "lead_batches": None if first is None or signal is None else first + delay - signal,
            "signals_without_breach": false,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="three data sets, fewer batches")
    parser.add_argument("--delay", type=int, default=3, help="batches until labels arrive")
    parser.add_argument(
        "--nannyml-python",
        default=os.environ.get("NANNYML_PYTHON"),
        help="Python of an environment with nannyml installed [$NANNYML_PYTHON]",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    info = machine()
    prepared = [prepare(sc) for sc in scenarios(args.quick)]
    with tempfile.TemporaryDirectory() as tmp:
        specs = [nannyml_spec(p.sc, p.model, p.ref, p.batches, Path(tmp)) for p in prepared]
        print("  NannyML ...", file=sys.stderr)
        theirs = nannyml(specs, args.nannyml_python, Path(tmp))
    results = []
    for i, p in enumerate(prepared):
        print(f"  {p.sc.name} ...", file=sys.stderr)
        results.append(run(p, args, theirs if isinstance(theirs, str) else theirs[i]))
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = {
        "benchmark": "monitor_estimation",
        "machine": info,
        "settings": vars(args),
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = write_results("monitor_estimation", out, quick=args.quick)
    print(machine_line(info))
    print(f"labels arrive {args.delay} batches late; real data from installed packages")
    rows = []
    for r in results:
        s = r["summary"]
        for m in [s["metric"], "roc_auc"] if r["task"] == "binary" else [s["metric"]]:
            rows.append(
                [
                    r["dataset"],
                    m,
                    len(r["batches"]),
                    _f(s.get(f"ours_mae_{m}")),
                    _f(s.get(f"nannyml_mae_{m}")),
                    _f(s.get(f"no_change_mae_{m}")),
                ]
            )
    print(
        table(
            [
                "data set",
                "metric",
                "batches",
                "ours: mean abs. estimation error",
                "NannyML",
                "reference value (no estimate)",
            ],
            rows,
        )
    )
    print()
    lead = []
    for r in results:
        b = r["summary"]["breach"]
        lead.append(
            [
                r["dataset"],
                f"{r['summary']['slo']:.3g}",
                _f(b["first_breach_batch"]),
                _f(b["confirmed_by_labels_at"]),
                *(
                    f"{_f(b[w]['first_signal_batch'])} (lead {_f(b[w]['lead_batches'])}, "
                    f"{b[w]['signals_without_breach']} unconfirmed)"
                    if w in b
                    else "-"
                    for w in ("ours", "nannyml")
                ),
            ]
        )
    print(
        table(
            [
                "data set",
                "SLO",
                "first breach (batch)",
                "labels confirm at",
                "ours: first signal",
                "NannyML: first signal",
            ],
            lead,
        )
    )
    for r in results:
        print(f"{r['dataset']}: {r['summary']['note']}")
    print(f"written {path} in {out['seconds']} s")


def _f(v: Any) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    main()
