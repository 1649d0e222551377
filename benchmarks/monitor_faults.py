"""Benchmark: does the monitor find real faults without crying wolf?

Real data shipped inside installed packages (no download):

* ``seattle-weather`` (vega_datasets): daily weather 2012-2013; model: weather type from the
  measurements and the season;
* ``cars`` (vega_datasets): 406 cars 1970-1982; model: miles per gallon (regression);
* ``fair`` (statsmodels): 6,366 survey answers; model: whether an affair was reported;
* ``randhie`` (statsmodels): 20,190 RAND health-insurance records; model: any doctor visit;
* ``breast_cancer`` (scikit-learn): 569 tumours, 30 measurements.

Each data set is split at random into a reference (50%, the model's training data) and a
pool. *Clean* batches are random pool rows, checked in sequence (drift persistence on).
*Benign* batches are 20,000-row bootstrap samples of the whole data set: the same population,
huge samples, tiny real differences from the reference. For seattle-weather, 20,000-row
samples of the years 2014 and 2015 are a separate row, *real change*: real year-to-year
drift (2015 was a record warm year), where an alarm is not obviously false. *Faulty*
batches are clean batches with one injected fault, each checked on its own (detection within
one batch): missing column, null burst (30% of rows), unit change x1000, category renamed,
stuck constant, covariate shift on the model's most important feature (rows resampled with
weight exp(z)), label shift (rows resampled to change the label distribution; the column to
name is the prediction, since labels arrive later).

The same batches go through Evidently's ``DataDriftPreset`` with default settings, counting an
alarm when any column is flagged (and, separately, when the preset's dataset-level drift fires).

False-alarm ladder: clean **synthetic** batches of 50 to 500,000 rows with the traps of a
quiet monitor (a rare legitimate category, a near-constant flag, ids new in every batch), one
check each against a 20,000-row synthetic reference.

Throughput: a **synthetic** 1,000,000 x 50 batch (40 numeric, 10 categorical columns from
fixed generators) against a synthetic 100,000-row reference, through one whole
``check_batch`` (validation, duplicates, drift); wall and CPU seconds.

Run: ``python benchmarks/monitor_faults.py`` (``--quick`` for a smaller run). Writes
``benchmarks/results/monitor_faults.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("DO_NOT_TRACK", "1")
warnings.simplefilter("ignore")

# The repository root, so that `python benchmarks/<name>.py` finds the `benchmarks` package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import machine, machine_line, table, write_results  # noqa: E402
from mileage.monitors import MonitorConfig, check_batch, infer_suite  # noqa: E402
from mileage.monitors.checks._drift import DriftOptions  # noqa: E402
from mileage.monitors.checks._findings import BatchReport, Severity  # noqa: E402

FAULTS = (
    "missing_column",
    "null_burst",
    "unit_change_x1000",
    "category_renamed",
    "stuck_constant",
    "covariate_shift",
    "label_shift",
    "label_shift_labelled",
    "fan_out",
    "retried_write",
)
#: What a table-level fault (repeated rows) is named by: a finding of these checks.
ROWS = "(rows)"
ROW_CHECKS = ("repeated_row", "duplicate_rows")
#: Sizes of the clean batches of the false-alarm ladder (SYNTHETIC data with traps).
LADDER = (50, 500, 5_000, 50_000, 500_000)


@dataclass
class Dataset:
    name: str
    frame: pd.DataFrame
    target: str
    task: str  # classification | regression
    categorical: list[str]
    real_change_sources: list[pd.DataFrame] = field(default_factory=list)
    note: str = ""

    @property
    def features(self) -> list[str]:
        return [c for c in self.frame.columns if c != self.target]


def load_datasets() -> list[Dataset]:
    import statsmodels.api as sm
    from sklearn.datasets import load_breast_cancer
    from vega_datasets import local_data

    out = []
    w = local_data.seattle_weather()
    season = {12: "winter", 1: "winter", 2: "winter", 3: "spring", 4: "spring", 5: "spring"}
    season |= {6: "summer", 7: "summer", 8: "summer", 9: "autumn", 10: "autumn", 11: "autumn"}
    w["season"] = w["date"].dt.month.map(season)
    year = w["date"].dt.year
    w = w.drop(columns=["date"])
    out.append(
        Dataset(
            "seattle-weather",
            w[year <= 2013].reset_index(drop=True),
            "weather",
            "classification",
            ["season"],
            [w[year == 2014].drop(columns=["weather"]), w[year == 2015].drop(columns=["weather"])],
            "reference/pool 2012-2013; real year-to-year change = 2014, 2015",
        )
    )
    cars = local_data.cars().dropna(subset=["Miles_per_Gallon"])
    cars["model_year"] = cars["Year"].dt.year
    cars = cars.drop(columns=["Name", "Year"]).reset_index(drop=True)
    out.append(Dataset("cars", cars, "Miles_per_Gallon", "regression", ["Origin"]))
    fair = sm.datasets.fair.load_pandas().data.copy()
    fair["had_affair"] = (fair.pop("affairs") > 0).astype(int)
    for c in ("occupation", "occupation_husb"):
        fair[c] = "occ" + fair[c].astype(int).astype(str)
    out.append(
        Dataset("fair", fair, "had_affair", "classification", ["occupation", "occupation_husb"])
    )
    r = sm.datasets.randhie.load_pandas().data.copy()
    r["visited"] = (r.pop("mdvis") > 0).astype(int)
    r["health"] = np.select(
        [r.hlthg == 1, r.hlthf == 1, r.hlthp == 1], ["good", "fair", "poor"], "excellent"
    )
    r = r.drop(columns=["hlthg", "hlthf", "hlthp"])
    out.append(Dataset("randhie", r, "visited", "classification", ["health"]))
    bc = load_breast_cancer(as_frame=True).frame
    bc.columns = [c.replace(" ", "_") for c in bc.columns]
    out.append(Dataset("breast_cancer", bc, "target", "classification", []))
    return out


class Model:
    """Histogram gradient boosting on ordinal-encoded categoricals (fit on the reference)."""

    def __init__(self, ds: Dataset, ref: pd.DataFrame) -> None:
        from sklearn.compose import ColumnTransformer
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import OrdinalEncoder

        enc = OrdinalEncoder(
            handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-2
        )
        ct = ColumnTransformer([("cat", enc, ds.categorical)], remainder="passthrough")
        est = (
            HistGradientBoostingClassifier(max_iter=100, random_state=0)
            if ds.task == "classification"
            else HistGradientBoostingRegressor(max_iter=100, random_state=0)
        )
        self.features = ds.features
        self.pipe = Pipeline([("ct", ct), ("m", est)]).fit(ref[self.features], ref[ds.target])

    def predict(self, frame: pd.DataFrame) -> np.ndarray | None:
        if any(c not in frame.columns for c in self.features):
            return None  # the serving job cannot score a batch missing an input
        return self.pipe.predict(frame[self.features])

    def important_feature(self, pool: pd.DataFrame, target: str, numeric: list[str]) -> str:
        from sklearn.inspection import permutation_importance

        imp = permutation_importance(
            self.pipe, pool[self.features], pool[target], n_repeats=3, random_state=0
        )
        ranked = sorted(zip(self.features, imp.importances_mean), key=lambda kv: -kv[1])
        return next(c for c, _ in ranked if c in numeric)


def with_predictions(model: Model, frame: pd.DataFrame) -> pd.DataFrame:
    pred = model.predict(frame)
    return frame if pred is None else frame.assign(prediction=pred)


def inject(
    fault: str,
    batch: pd.DataFrame,
    ds: Dataset,
    pool: pd.DataFrame,
    rng: np.random.Generator,
    numeric: list[str],
    important: str,
    m: int,
) -> tuple[pd.DataFrame, str] | None:
    b = batch.copy()
    feats = [c for c in ds.features]
    if fault == "missing_column":
        col = str(rng.choice(feats))
        return b.drop(columns=[col]), col
    if fault == "null_burst":
        col = str(rng.choice(feats))
        start = int(rng.integers(0, max(1, len(b) - int(0.3 * len(b)))))
        b.iloc[start : start + int(0.3 * len(b)), b.columns.get_loc(col)] = np.nan
        return b, col
    if fault == "unit_change_x1000":
        col = str(rng.choice(numeric))
        b[col] = b[col] * 1000
        return b, col
    if fault == "category_renamed":
        if not ds.categorical:
            return None
        col = str(rng.choice(ds.categorical))
        top = b[col].value_counts().index[0]
        new = str(top).upper() if str(top).upper() != str(top) else f"{top}_renamed"
        b[col] = b[col].replace({top: new})
        return b, col
    if fault == "stuck_constant":
        candidates = [c for c in numeric if ds.frame[c].nunique() >= 5]
        if not candidates:
            return None
        col = str(rng.choice(candidates))
        b[col] = b[col].dropna().iloc[0]
        return b, col
    if fault == "covariate_shift":
        x = pool[important].astype(float)
        z = ((x - x.mean()) / x.std()).fillna(0)
        p = np.exp(1.0 * z.to_numpy())
        idx = rng.choice(len(pool), size=m, replace=True, p=p / p.sum())
        return pool.iloc[idx].drop(columns=[ds.target]).reset_index(drop=True), important
    if fault == "fan_out":  # a join fan-out: most rows are copies of one row
        k = int(0.6 * len(b))
        return pd.concat([b.iloc[[0] * k], b.iloc[k:]], ignore_index=True), ROWS
    if fault == "retried_write":  # every row written twice
        return pd.concat([b, b], ignore_index=True), ROWS
    if fault in ("label_shift", "label_shift_labelled"):
        y = pool[ds.target]
        if ds.task == "classification":
            major = y.value_counts().index[0]
            w = np.where(y == major, 0.3, 1.0)
        else:
            z = ((y - y.mean()) / y.std()).to_numpy()
            w = np.exp(1.0 * z)
        idx = rng.choice(len(pool), size=m, replace=True, p=w / w.sum())
        rows = pool.iloc[idx].reset_index(drop=True)
        if fault == "label_shift":
            return rows.drop(columns=[ds.target]), "prediction"
        # the same fault once the labels have arrived: joined by id, compared with the
        # reference's labels
        return rows.rename(columns={ds.target: "__labels__"}).assign(
            row_id=np.arange(len(rows))
        ), ds.target
    raise ValueError(fault)


def evidently_preset(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, Any]:
    """Evidently DataDriftPreset, default settings: flagged columns and dataset-level drift."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    cols = [c for c in ref.columns if c in cur.columns]
    try:
        snap = Report([DataDriftPreset()], include_tests=True).run(
            current_data=cur[cols], reference_data=ref[cols]
        )
    except Exception as exc:  # a crash of the baseline is a miss, recorded
        return {"error": f"{type(exc).__name__}: {str(exc)[:120]}", "columns": [], "dataset": False}
    d = snap.dict()
    flagged, dataset = [], False
    for t in d["tests"]:
        params = (t.get("metric_config") or {}).get("params") or {}
        if t.get("status") == "FAIL":
            if params.get("column") is not None:
                flagged.append(params["column"])
            else:
                dataset = True
    return {"columns": sorted(set(flagged)), "dataset": dataset}


def ours(
    batch: pd.DataFrame,
    ref: pd.DataFrame,
    suite: dict[str, Any],
    config: MonitorConfig,
    history: dict[str, list[int]] | None,
) -> tuple[BatchReport, float]:
    started = time.perf_counter()
    labels = None
    if "__labels__" in batch.columns:  # labels arrived: join them by id
        labels = pd.DataFrame({"row_id": batch["row_id"], config.label_column: batch["__labels__"]})
        batch = batch.drop(columns=["__labels__"])
        config = dataclasses.replace(config, id_column="row_id")
    report, _ = check_batch(
        batch,
        reference=ref,
        suite=suite,
        config=config,
        batch_id="b",
        history=history,
        labels=labels,
    )
    return report, time.perf_counter() - started


@dataclass
class Setup:
    """A data set made ready for monitoring: reference, pool, model, suite, config."""

    ds: Dataset
    frame: pd.DataFrame
    ref_raw: pd.DataFrame
    pool: pd.DataFrame
    model: Model
    ref: pd.DataFrame
    ref_labelled: pd.DataFrame
    numeric: list[str]
    important: str
    config: MonitorConfig
    suite: dict[str, Any]


def prepare(ds: Dataset) -> Setup:
    """Split (reference 50%, pool), fit the model, infer the suite (deterministic)."""
    frame = ds.frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    half = len(frame) // 2
    ref_raw, pool = (
        frame.iloc[:half].reset_index(drop=True),
        frame.iloc[half:].reset_index(drop=True),
    )
    model = Model(ds, ref_raw)
    ref = with_predictions(model, ref_raw.drop(columns=[ds.target]))
    numeric = [
        c
        for c in ds.features
        if c not in ds.categorical and pd.api.types.is_numeric_dtype(frame[c])
    ]
    important = model.important_feature(pool, ds.target, numeric)
    ref_labelled = ref.assign(**{ds.target: ref_raw[ds.target]})
    config = MonitorConfig(
        name=ds.name,
        reference_uri="-",
        prediction_column="prediction",
        label_column=ds.target,
        performance={"metric": "accuracy" if ds.task == "classification" else "mae"},
    )
    suite = infer_suite(ref, exclude=("prediction",))
    return Setup(
        ds, frame, ref_raw, pool, model, ref, ref_labelled, numeric, important, config, suite
    )


def sequences(
    setup: Setup, args: argparse.Namespace, rng: np.random.Generator
) -> Iterator[tuple[str, str | None, pd.DataFrame, str | None]]:
    """The batches of one data set in benchmark order: ``(kind, fault, batch, column to name)``.

    Kinds: ``clean`` (a sequence), ``benign``, ``real_change`` (sequences), ``fault`` (each
    checked on its own). Batches are unscored (no prediction column).
    """
    ds, frame, pool = setup.ds, setup.frame, setup.pool
    lo, hi = min(200, len(pool) // 2), min(1000, len(pool))
    for _ in range(args.clean):
        m = int(rng.integers(lo, hi + 1))
        idx = rng.choice(len(pool), size=m, replace=m > len(pool))
        yield "clean", None, pool.iloc[idx].drop(columns=[ds.target]).reset_index(drop=True), None
    for _ in range(max(1, args.clean // 3)):  # a few dozen rows
        idx = rng.choice(len(pool), size=int(rng.integers(30, 61)), replace=False)
        yield (
            "clean_few_dozen",
            None,
            pool.iloc[idx].drop(columns=[ds.target]).reset_index(drop=True),
            None,
        )
    # Drawn without replacement: a bootstrap resample repeats rows by construction (20,000 rows
    # resampled from 1,461 are 93% copies), which no real batch of distinct events does.
    whole = frame.drop(columns=[ds.target])
    for _ in range(args.benign):
        idx = rng.choice(len(whole), size=min(args.benign_rows, len(whole)), replace=False)
        yield "benign", None, whole.iloc[idx].reset_index(drop=True), None
    for i in range(args.benign if ds.real_change_sources else 0):
        src = ds.real_change_sources[i % len(ds.real_change_sources)]
        idx = rng.choice(len(src), size=min(args.benign_rows, len(src)), replace=False)
        yield "real_change", None, src.iloc[idx].reset_index(drop=True), None
    for fault in FAULTS:
        for _ in range(args.reps):
            m = int(rng.integers(lo, hi + 1))
            idx = rng.choice(len(pool), size=m, replace=m > len(pool))
            clean = pool.iloc[idx].drop(columns=[ds.target]).reset_index(drop=True)
            injected = inject(fault, clean, ds, pool, rng, setup.numeric, setup.important, m)
            if injected is None:
                break
            batch, expected = injected
            yield "fault", fault, batch, expected


def run_dataset(
    ds: Dataset, args: argparse.Namespace, rng: np.random.Generator
) -> list[dict[str, Any]]:
    setup = prepare(ds)
    model, ref, ref_labelled = setup.model, setup.ref, setup.ref_labelled
    config, suite = setup.config, setup.suite
    persistence = DriftOptions().persistence
    records: list[dict[str, Any]] = []

    def record(
        kind: str, fault: str | None, batch: pd.DataFrame, expected: str | None, history: Any
    ) -> None:
        scored = with_predictions(model, batch)
        report, secs = ours(scored, ref_labelled, suite, config, history)
        scored = scored.drop(columns=["__labels__", "row_id"], errors="ignore")
        named = sorted(report.columns_named(Severity.WARNING))
        if any(f.check in ROW_CHECKS and f.severity >= Severity.WARNING for f in report.findings):
            named.append(ROWS)
        alarm = report.worst is not None and report.worst >= Severity.WARNING
        t0 = time.perf_counter()
        ev = evidently_preset(ref, scored)
        ev_secs = time.perf_counter() - t0
        records.append(
            {
                "dataset": ds.name,
                "kind": kind,
                "fault": fault,
                "rows": len(batch),
                "expected_column": expected,
                "ours_alarm": bool(alarm),
                "ours_columns": named,
                "ours_blocking": report.blocking,
                "ours_findings": [
                    [f.check, f.column, f.severity.label]
                    for f in report.findings
                    if f.severity >= Severity.WARNING
                ],
                "ours_seconds": round(secs, 3),
                "evidently_any": bool(ev["columns"]) or ev["dataset"],
                "evidently_columns": ev["columns"],
                "evidently_dataset": ev["dataset"],
                "evidently_error": ev.get("error"),
                "evidently_seconds": round(ev_secs, 3),
            }
        )
        if history is not None:
            for s in report.statistics:
                if s.check_kind == "drift" and s.statistic == "drift_level":
                    history.setdefault(s.column, []).append(int(s.value or 0))
                    del history[s.column][: -(persistence - 1)]

    histories: dict[str, dict[str, list[int]]] = {
        "clean": {},
        "clean_few_dozen": {},
        "benign": {},
        "real_change": {},
    }
    for kind, fault, batch, expected in sequences(setup, args, rng):
        record(kind, fault, batch, expected, histories.get(kind))
    print(
        f"  {ds.name}: {len(records)} batches, important feature {setup.important!r}",
        file=sys.stderr,
    )
    return records


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["fault"] or r["kind"]].append(r)
    for key, rs in groups.items():
        n = len(rs)
        if rs[0]["kind"] == "fault":
            rows[key] = {
                "batches": n,
                "ours_recall": sum(r["ours_alarm"] for r in rs) / n,
                "ours_right_column": sum(r["expected_column"] in r["ours_columns"] for r in rs) / n,
                "evidently_recall": sum(r["evidently_any"] for r in rs) / n,
                "evidently_right_column": sum(
                    r["expected_column"] in r["evidently_columns"] for r in rs
                )
                / n,
                "evidently_dataset_recall": sum(r["evidently_dataset"] for r in rs) / n,
                "evidently_errors": sum(bool(r["evidently_error"]) for r in rs),
            }
        else:
            rows[key] = {
                "batches": n,
                "ours_false_alarms_per_100": 100 * sum(r["ours_alarm"] for r in rs) / n,
                "evidently_false_alarms_per_100": 100 * sum(r["evidently_any"] for r in rs) / n,
                "evidently_dataset_false_alarms_per_100": 100
                * sum(r["evidently_dataset"] for r in rs)
                / n,
                "ours_alarm_columns": sorted({c for r in rs for c in r["ours_columns"]}),
            }
    faults = [r for r in records if r["kind"] == "fault"]
    rows["all faults"] = {
        "batches": len(faults),
        "ours_recall": sum(r["ours_alarm"] for r in faults) / len(faults),
        "ours_right_column": sum(r["expected_column"] in r["ours_columns"] for r in faults)
        / len(faults),
        "evidently_recall": sum(r["evidently_any"] for r in faults) / len(faults),
        "evidently_right_column": sum(
            r["expected_column"] in r["evidently_columns"] for r in faults
        )
        / len(faults),
        "evidently_dataset_recall": sum(r["evidently_dataset"] for r in faults) / len(faults),
        "evidently_errors": sum(bool(r["evidently_error"]) for r in faults),
    }
    return rows


def synthetic(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """SYNTHETIC frame: 40 numeric and 10 categorical columns from fixed generators."""
    data: dict[str, Any] = {}
    for i in range(40):
        data[f"num_{i}"] = rng.normal(i, 1 + i % 3, n) if i % 2 else rng.lognormal(1, 0.7, n)
    for i in range(10):
        cats = np.array([f"c{j}" for j in range(5 + 5 * i)])
        data[f"cat_{i}"] = cats[rng.integers(0, len(cats), n)]
    return pd.DataFrame(data)


def with_traps(n: int, rng: np.random.Generator, first_id: int) -> pd.DataFrame:
    """SYNTHETIC clean rows with the traps of a quiet monitor: 12 numeric and 3 categorical
    columns, a rare legitimate category (one row in 50,000, which a 20,000-row reference misses
    two times in three), a near-constant flag (one row in 1,000 is 1), and row ids new in every
    batch (a declared key)."""
    data: dict[str, Any] = {"row_id": np.arange(first_id, first_id + n)}
    for i in range(12):
        data[f"num_{i}"] = rng.normal(i, 1 + i % 3, n) if i % 2 else rng.lognormal(1, 0.7, n)
    for i in range(3):
        cats = np.array([f"c{j}" for j in range(4 + 6 * i)])
        data[f"cat_{i}"] = cats[rng.integers(0, len(cats), n)]
    region = np.array(["north", "south", "east", "west", "island"])
    data["region"] = region[rng.choice(5, n, p=[0.4, 0.3, 0.2, 0.09998, 0.00002])]
    data["flag"] = (rng.random(n) < 0.001).astype(int)
    return pd.DataFrame(data)


def ladder(args: argparse.Namespace) -> list[dict[str, Any]]:
    """False alarms on clean SYNTHETIC batches with traps, by batch size (one check each)."""
    rng = np.random.default_rng(11)
    ref = with_traps(args.ladder_reference, rng, 0)
    config = MonitorConfig(name="ladder", reference_uri="-", key_columns=["row_id"])
    suite = infer_suite(ref)
    first, out = len(ref), []
    for size in args.ladder:
        reps = args.ladder_reps if size <= 5_000 else args.ladder_large_reps
        for _ in range(reps):
            batch = with_traps(size, rng, first)
            first += size
            report, secs = ours(batch, ref, suite, config, None)
            bad = [
                [f.check, f.column, f.severity.label]
                for f in report.findings
                if f.severity >= Severity.WARNING
            ]
            traps = {
                "rare_category_in_batch": int((batch["region"] == "island").sum()),
                "rare_category_in_reference": int((ref["region"] == "island").sum()),
                "flag_ones_in_batch": int(batch["flag"].sum()),
            }
            out.append(
                {"rows": size, "alarm": bool(bad), "findings": bad, "seconds": round(secs, 2)}
                | traps
            )
        print(f"  ladder {size:,} rows: {reps} batches", file=sys.stderr)
    return out


def ladder_table(rows: list[dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    by: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[r["rows"]].append(r)
    summary = {
        str(size): {
            "batches": len(rs),
            "false_alarms_per_100": 100 * sum(r["alarm"] for r in rs) / len(rs),
            "alarm_findings": sorted({tuple(f) for r in rs for f in r["findings"]}),
            "batches_with_the_rare_category": sum(r["rare_category_in_batch"] > 0 for r in rs),
            "batches_without_a_flag": sum(r["flag_ones_in_batch"] == 0 for r in rs),
            "seconds_mean": round(float(np.mean([r["seconds"] for r in rs])), 2),
        }
        for size, rs in sorted(by.items())
    }
    text = table(
        [
            "clean batch rows (SYNTHETIC, traps)",
            "n",
            "ours: false alarms / 100",
            "with the rare category",
            "flag column constant",
            "seconds / batch",
        ],
        [
            [
                f"{int(k):,}",
                v["batches"],
                f"{v['false_alarms_per_100']:.1f}",
                v["batches_with_the_rare_category"],
                v["batches_without_a_flag"],
                v["seconds_mean"],
            ]
            for k, v in summary.items()
        ],
    )
    return text, summary


def throughput(rows: int, reference_rows: int) -> dict[str, Any]:
    """One whole ``check_batch`` (validation, duplicates, drift) of a SYNTHETIC batch."""
    rng = np.random.default_rng(7)
    ref = synthetic(reference_rows, rng)
    big = synthetic(rows, rng)
    suite = infer_suite(ref)
    config = MonitorConfig(name="throughput", reference_uri="-")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu0 = _cpu_seconds()
    t0 = time.perf_counter()
    report, _ = check_batch(big, reference=ref, suite=suite, config=config, batch_id="synthetic")
    total = time.perf_counter() - t0
    cpu = _cpu_seconds() - cpu0
    t_val, t_drift = report.seconds.get("validation", 0.0), report.seconds.get("drift", 0.0)
    cells = big.shape[0] * big.shape[1]
    return {
        "data": "SYNTHETIC (fixed generators)",
        "rows": big.shape[0],
        "columns": big.shape[1],
        "reference_rows": len(ref),
        "validation_seconds": round(t_val, 2),
        "drift_seconds": round(t_drift, 2),
        "total_seconds": round(total, 2),
        "total_cpu_seconds": round(cpu, 2),
        "validation_cells_per_second": round(cells / t_val),
        "drift_cells_per_second": round(cells / t_drift),
        "drift_sample_rows": DriftOptions().sample_rows,
        "findings_on_clean_synthetic_batch": len(
            [f for f in report.findings if f.severity >= Severity.WARNING]
        ),
        "peak_rss_mb_before": round(rss_before),
        "peak_rss_mb_after": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "frame_mb": round(big.memory_usage(deep=False).sum() / 2**20),
    }


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process: on a shared machine, wall time also
    counts the other jobs' turns."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def tables(summary: dict[str, Any]) -> str:
    """Recall per fault, then false alarms per 100 batches, ours beside Evidently's preset."""
    faults = []
    for key in (*FAULTS, "all faults"):
        if key not in summary:
            continue
        s = summary[key]
        err = f" ({s['evidently_errors']} errors)" if s["evidently_errors"] else ""
        faults.append(
            [
                key.replace("_", " "),
                s["batches"],
                f"{s['ours_recall']:.2f}",
                f"{s['ours_right_column']:.2f}",
                f"{s['evidently_recall']:.2f}{err}",
                f"{s['evidently_right_column']:.2f}",
                f"{s['evidently_dataset_recall']:.2f}",
            ]
        )
    alarms = [
        [
            key,
            summary[key]["batches"],
            f"{summary[key]['ours_false_alarms_per_100']:.1f}",
            f"{summary[key]['evidently_false_alarms_per_100']:.1f}",
            f"{summary[key]['evidently_dataset_false_alarms_per_100']:.1f}",
        ]
        for key in ("clean", "clean_few_dozen", "benign", "real_change")
        if key in summary
    ]
    one = table(
        [
            "batches",
            "n",
            "ours: recall",
            "ours: right column",
            "Evidently preset: recall (any column)",
            "Evidently: right column",
            "Evidently: dataset drift",
        ],
        faults,
    )
    two = table(
        [
            "batches",
            "n",
            "ours: false alarms / 100",
            "Evidently preset: false alarms / 100 (any column)",
            "Evidently: dataset drift / 100",
        ],
        alarms,
    )
    return one + "\n\n" + two


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="two small data sets, fewer batches, smaller throughput batch (smoke run)",
    )
    parser.add_argument("--clean", type=int, default=30, help="clean batches per data set")
    parser.add_argument("--benign", type=int, default=20, help="benign batches per data set")
    parser.add_argument("--benign-rows", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5, help="batches per fault and data set")
    parser.add_argument("--throughput-rows", type=int, default=1_000_000)
    parser.add_argument("--throughput-reference", type=int, default=100_000)
    parser.add_argument("--ladder", type=int, nargs="*", default=list(LADDER))
    parser.add_argument(
        "--ladder-reps", type=int, default=100, help="clean batches per size up to 5,000 rows"
    )
    parser.add_argument(
        "--ladder-large-reps", type=int, default=20, help="clean batches per larger size"
    )
    parser.add_argument("--ladder-reference", type=int, default=20_000)
    parser.add_argument("--datasets", nargs="*", default=None)
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="processes for the data sets and the false-alarm ladder (the throughput batch is "
        "checked after them, alone); the batches do not depend on it",
    )
    args = parser.parse_args()
    if args.quick:
        args.clean, args.benign, args.reps, args.benign_rows = 2, 1, 1, 2_000
        args.throughput_rows, args.throughput_reference = 5_000, 2_000
        args.ladder, args.ladder_reps, args.ladder_large_reps = [50, 500], 1, 1
        args.ladder_reference = 2_000
        args.datasets = args.datasets or ["cars"]  # the smallest
    started = time.perf_counter()
    info = machine()
    records: list[dict[str, Any]] = []
    datasets = [d for d in load_datasets() if not args.datasets or d.name in args.datasets]
    # Each data set and the ladder draw from seeds of their own, so that --jobs does not change
    # the batches.
    seeds = [np.random.default_rng([2026, i]) for i in range(len(datasets))]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            pending = pool.submit(ladder, args)
            parts = [pool.submit(run_dataset, ds, args, r) for ds, r in zip(datasets, seeds)]
            for part in parts:
                records.extend(part.result())
            ladder_rows = pending.result()
    else:
        for ds, r in zip(datasets, seeds):
            records.extend(run_dataset(ds, args, r))
        print("false-alarm ladder ...", file=sys.stderr)
        ladder_rows = ladder(args)
    summary = summarise(records)
    ladder_text, ladder_summary = ladder_table(ladder_rows)
    print("throughput ...", file=sys.stderr)
    speed = throughput(args.throughput_rows, args.throughput_reference)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = {
        "benchmark": "monitor_faults",
        "machine": info,
        "datasets": {
            d.name: {"rows": len(d.frame), "target": d.target, "note": d.note} for d in datasets
        },
        "settings": vars(args),
        "summary": summary,
        "ladder": ladder_summary,
        "throughput": speed,
        "seconds": round(time.perf_counter() - started, 1),
        "records": records,
    }
    path = write_results("monitor_faults", out, quick=args.quick)
    print(machine_line(info))
    print(f"data: {', '.join(d.name for d in datasets)} (real, from installed packages)")
    print(tables(summary))
    print()
    print(ladder_text)
    print()
    print(
        f"throughput on a SYNTHETIC {speed['rows']:,} x {speed['columns']} batch: validation "
        f"{speed['validation_seconds']} s ({speed['validation_cells_per_second']:,} cells/s), drift "
        f"{speed['drift_seconds']} s ({speed['drift_cells_per_second']:,} cells/s; drift samples "
        f"{speed['drift_sample_rows']:,} rows), whole check {speed['total_seconds']} s "
        f"({speed['total_cpu_seconds']} CPU s); peak RSS "
        f"{speed['peak_rss_mb_after']} MB (batch frame {speed['frame_mb']} MB)"
    )
    print(f"written {path} in {out['seconds']} s")


if __name__ == "__main__":
    main()
