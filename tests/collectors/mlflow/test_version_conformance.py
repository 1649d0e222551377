"""The direct store readers against stores written by the lowest and the highest MLflow that
``pyproject.toml`` allows.

Each MLflow version is installed (``mlflow-skinny`` plus SQLAlchemy and Alembic, what its SQLite
store needs) in its own virtual environment under the test cache (mileage.testing.venvs), made
once and reused. One script run in that environment writes the same runs to a SQLite store and
to an ``mlruns/`` folder and dumps what ``MlflowClient`` of that version reads back; our readers
must read both stores exactly as MlflowClient does.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import pytest

from mileage.collectors import WarningLog
from mileage.collectors.mlflow import open_reader
from mileage.testing.venvs import cached_venv

ROOT = Path(__file__).resolve().parents[3]


#: The newest MLflow the readers are tested against; pyproject's upper bound admits it.
HIGHEST = "3.18.0"


def _lowest() -> str:
    """The lowest version ``pyproject.toml`` admits (``mlflow-skinny>=X``), checked to admit
    :data:`HIGHEST` too."""
    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    spec = next(d for d in project["dependencies"] if d.startswith("mlflow-skinny"))
    requirement = Requirement(spec)
    low = re.search(r">=\s*([0-9.]+)", spec)
    assert low, f"no lower bound in {spec!r}"
    assert requirement.specifier.contains(HIGHEST), f"{spec!r} does not admit {HIGHEST}"
    return low.group(1)


LOWEST = _lowest()

WRITER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import mlflow
    from mlflow import MlflowClient
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param, RunTag

    def write(uri, out):
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        t0 = 1_700_000_000_000
        exp = client.create_experiment("conformance", tags={"team": "ml"})
        client.create_experiment("empty")
        run_ids = []
        for i in range(3):
            run = client.create_run(exp, start_time=t0 + i, tags={"mlflow.runName": f"run-{i}", "seed": str(i)})
            rid = run.info.run_id
            run_ids.append(rid)
            client.log_batch(
                rid,
                metrics=[Metric("loss", 1.0 / (s + 1) + i, t0 + s, s) for s in range(5)]
                + [Metric("odd", float("nan"), t0, 0), Metric("odd", float("inf"), t0 + 1, 1)],
                params=[Param("lr", str(0.1 * (i + 1))), Param("depth", str(i + 2))],
                tags=[RunTag("note", "unicode ✓ " * 3)],
            )
            dataset = Dataset(
                name="training_data", digest=f"abc-{i}", source_type="code",
                source=json.dumps({"tags": {"mlflow.source.name": "train.py"}}),
                schema=json.dumps({"mlflow_colspec": [{"name": "a", "type": "double"}]}),
                profile=json.dumps({"num_rows": 100 + i}),
            )
            client.log_inputs(rid, [DatasetInput(dataset, [InputTag("mlflow.data.context", "train")])])
            client.set_terminated(rid, "FAILED" if i == 2 else "FINISHED", end_time=t0 + 1000 + i)
        client.delete_run(run_ids[1])
        client.create_registered_model("clf")
        mv = client.create_model_version("clf", f"runs:/{run_ids[0]}/model", run_id=run_ids[0])
        client.set_registered_model_alias("clf", "champion", mv.version)

        dump = {"version": mlflow.__version__, "experiments": {}, "runs": {}, "versions": []}
        for e in client.search_experiments(view_type=3):
            dump["experiments"][e.experiment_id] = {"name": e.name, "stage": e.lifecycle_stage, "tags": dict(e.tags)}
        for r in client.search_runs([e for e in dump["experiments"]], run_view_type=3):
            rid = r.info.run_id
            dump["runs"][rid] = {
                "experiment_id": r.info.experiment_id,
                "status": r.info.status,
                "start": r.info.start_time,
                "end": r.info.end_time,
                "stage": r.info.lifecycle_stage,
                "params": dict(r.data.params),
                "tags": dict(r.data.tags),
                "metrics": {
                    k: [[m.step, m.timestamp, repr(m.value)] for m in client.get_metric_history(rid, k)]
                    for k in r.data.metrics
                },
                "inputs": sorted(
                    [i.dataset.name, i.dataset.digest, i.dataset.source_type, i.dataset.source,
                     i.dataset.schema, i.dataset.profile,
                     {t.key: t.value for t in i.tags}.get("mlflow.data.context")]
                    for i in r.inputs.dataset_inputs
                ),
            }
        for m in client.search_registered_models():
            for v in client.search_model_versions(f"name='{m.name}'"):
                dump["versions"].append([v.name, int(v.version), v.run_id, v.source])
            dump["aliases"] = {a: int(v) for a, v in (m.aliases or {}).items()}
        out.write_text(json.dumps(dump))

    for uri, out in zip(sys.argv[1::2], sys.argv[2::2]):
        write(uri, Path(out))
    """
)


def _sqlalchemy_for(version: str) -> str:
    """The SQLAlchemy an environment with that MLflow has: MLflow 2 predates SQLAlchemy 2.1
    (its SQLite store imports a pool class 2.1 removed)."""
    return "sqlalchemy>=2.0.30,<2.1" if version.startswith("2.") else "sqlalchemy>=2.0.30,<3"


def _mlflow_python(version: str) -> Path:
    """The interpreter of a cached environment with ``mlflow-skinny==version``."""
    requirements = (f"mlflow-skinny=={version}", _sqlalchemy_for(version), "alembic<2")
    name = f"py{sys.version_info[0]}{sys.version_info[1]}-skinny-{version}"
    return cached_venv(f"mlflow/{name}", *requirements) / "bin" / "python"


def _write(python: Path, stores: dict[str, Path], cwd: Path) -> dict[str, dict[str, Any]]:
    """Write the runs to each store (URI -> dump file) in one run of the script."""
    script = cwd / "write_store.py"
    script.write_text(WRITER)
    arguments = [str(a) for pair in stores.items() for a in pair]
    result = subprocess.run(
        [str(python), str(script), *arguments],
        cwd=cwd,
        env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "PYTHONPATH": ""},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {uri: json.loads(dump.read_text()) for uri, dump in stores.items()}


def _value(text: str) -> float:
    """MlflowClient's value, with the SQL store's +/-max-float encoding of infinity undone (the
    readers restore infinities on purpose)."""
    value = float(text)
    return math.copysign(math.inf, value) if abs(value) >= sys.float_info.max else value


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _check(uri: str, expected: dict[str, Any]) -> None:
    warnings = WarningLog()
    reader = open_reader(uri, warnings)
    try:
        experiments = {e.experiment_id: e for e in reader.experiments()}
        for exp_id, exp in expected["experiments"].items():
            assert experiments[exp_id].name == exp["name"]
            assert experiments[exp_id].lifecycle_stage == exp["stage"]
            assert {k: v for k, v in experiments[exp_id].tags.items()} == exp["tags"]
        headers = list(reader.list_runs({}, full=True))
        records = {r.run_id: r for r in reader.read_runs(headers)}
        assert records.keys() == expected["runs"].keys()
        for run_id, want in expected["runs"].items():
            got = records[run_id]
            assert got.experiment_id == want["experiment_id"]
            assert (got.status, got.start_ms, got.end_ms) == (
                want["status"],
                want["start"],
                want["end"],
            )
            assert got.lifecycle_stage == want["stage"]
            assert got.params == want["params"]
            assert got.tags == want["tags"]
            assert got.metrics.keys() == want["metrics"].keys()
            for key, points in want["metrics"].items():
                series = got.metrics[key]
                assert series.steps.tolist() == [p[0] for p in points]
                assert series.timestamps.tolist() == [p[1] for p in points]
                assert all(
                    _same(a, _value(p[2])) for a, p in zip(series.values.tolist(), points)
                ), (key, series.values.tolist(), points)
            inputs = sorted(
                [d.name, d.digest, d.source_type, d.source, d.schema, d.profile, d.context]
                for d in got.inputs
            )
            assert inputs == want["inputs"]
        registry = reader.registry()
        versions = sorted([v.model_name, v.version, v.run_id, v.source] for v in registry.versions)
        assert versions == sorted(expected["versions"])
        assert {a: v for (m, a), v in registry.aliases.items() if m == "clf"} == expected["aliases"]
    finally:
        reader.close()


@pytest.mark.slow
@pytest.mark.parametrize("version", [LOWEST, HIGHEST])
def test_readers_match_mlflow_client(version: str, tmp_path: Path) -> None:
    python = _mlflow_python(version)
    sqlite_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlruns = tmp_path / "mlruns"
    written = _write(
        python,
        {sqlite_uri: tmp_path / "sqlite.json", mlruns.as_uri(): tmp_path / "files.json"},
        tmp_path,
    )
    for uri, expected in written.items():
        assert expected["version"] == version
        _check(str(mlruns) if uri == mlruns.as_uri() else uri, expected)
