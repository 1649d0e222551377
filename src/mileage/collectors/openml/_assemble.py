"""Turn what OpenML says about a run (list rows, evaluation rows, its description, its flow,
setup and task) into the rows Mileage stores.

Runs are merged from up to three kinds of evidence, best first: the run description
(parameters, every measure, per-fold values), ``evaluation/list`` rows (run-level and
per-fold values of some measures) and ``run/list`` rows (task, setup, flow, uploader,
upload time, error). A run lands with whatever is known; its signature records what was
missing, so a later pass that can read more rewrites it.

Conventions:

* Parameters are keyed by operator: a root-flow parameter keeps its name, a component's
  parameter is ``<path>__<name>`` with the component path of identifiers (``W/X__A``).
* Per-fold values are the history ``<metric>.folds`` with ``step = repeat * n_folds + fold``
  (``n_folds`` = folds in the run's own evaluations); learning-curve samples are
  ``<metric>.samples`` with ``step = (repeat * n_folds + fold) * n_samples + sample``. The
  run-level value (OpenML computes it over all predictions, not as a mean of folds) is the
  one-point history ``<metric>``. Measure names follow :mod:`mileage.platform.vocabulary`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mileage.collectors.openml._records import (
    EvaluationEntry,
    FlowRecord,
    RunDescription,
    RunListEntry,
    SetupRecord,
    TaskRecord,
)
from mileage.platform.fingerprint import fingerprint
from mileage.platform.pipelines import OperatorSpec
from mileage.platform.vocabulary import from_openml_measure

_FULL_NAME = re.compile(r"^(?P<name>.+)\((?P<version>\d+)\)$")
ROOT = "root"


def split_full_name(full_name: str) -> tuple[str, str | None]:
    """``("weka.J48", "1")`` from ``weka.J48(1)``; the version is None when absent."""
    match = _FULL_NAME.match(full_name)
    return (match["name"], match["version"]) if match else (full_name, None)


def upload_ms(text: str | None) -> int | None:
    """Epoch milliseconds of an OpenML time stamp (``2014-10-06T23:38:13``), read as UTC."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.strip().replace(" ", "T"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


@dataclass
class RunEvidence:
    """Everything a pass learned about one run."""

    run_id: int
    header: RunListEntry | None = None
    listed: list[EvaluationEntry] = field(default_factory=list)
    description: RunDescription | None = None
    #: The id the run was requested as, when the server answered with another run.
    requested_as: int | None = None

    def _first(self, *values: Any) -> Any:
        return next((v for v in values if v is not None), None)

    @property
    def task_id(self) -> int | None:
        d, h = self.description, self.header
        return self._first(d and d.task_id, h and h.task_id, *(e.task_id for e in self.listed))

    @property
    def flow_id(self) -> int | None:
        d, h = self.description, self.header
        return self._first(d and d.flow_id, h and h.flow_id, *(e.flow_id for e in self.listed))

    @property
    def setup_id(self) -> int | None:
        d, h = self.description, self.header
        return self._first(d and d.setup_id, h and h.setup_id, *(e.setup_id for e in self.listed))

    @property
    def uploader(self) -> int | None:
        d, h = self.description, self.header
        return self._first(d and d.uploader, h and h.uploader, *(e.uploader for e in self.listed))

    @property
    def dataset_id(self) -> int | None:
        d = self.description
        return self._first(d and d.dataset_id, *(e.data_id for e in self.listed))

    @property
    def dataset_name(self) -> str | None:
        d = self.description
        return self._first(d and d.dataset_name, *(e.data_name for e in self.listed))

    @property
    def upload_time(self) -> str | None:
        d, h = self.description, self.header
        return self._first(
            h and h.upload_time, d and d.upload_time, *(e.upload_time for e in self.listed)
        )

    @property
    def error(self) -> str | None:
        d, h = self.description, self.header
        return (d and d.error) or (h and h.error_message) or None

    @property
    def flow_name(self) -> str | None:
        d = self.description
        return self._first(d and d.flow_name, *(e.flow_name for e in self.listed))

    def header_fingerprint(self) -> str:
        """Identity of what the listing says; a changed listing means the run changed."""
        h = self.header
        if h is not None:
            return fingerprint(["run/list", asdict(h)])[:20]
        if self.listed:
            return fingerprint(["evaluation/list", sorted(map(_entry_key, self.listed))])[:20]
        return "-"

    def content(self) -> dict[str, Any]:
        return {
            "header": asdict(self.header) if self.header else None,
            "listed": sorted(map(_entry_key, self.listed)),
            "description": asdict(self.description) if self.description else None,
            "requested_as": self.requested_as,
        }


def _entry_key(e: EvaluationEntry) -> str:
    return json.dumps(asdict(e), sort_keys=True, default=str)


@dataclass
class Known:
    """The flows, setups, tasks and user names available to assemble runs."""

    flows: dict[int, FlowRecord] = field(default_factory=dict)
    flow_names: dict[int, str] = field(default_factory=dict)  # full names from flow lists
    setups: dict[int, SetupRecord] = field(default_factory=dict)
    tasks: dict[int, TaskRecord] = field(default_factory=dict)
    users: dict[int, str] = field(default_factory=dict)


@dataclass
class AssembledRun:
    """The rows of one run."""

    run_id: int
    task_id: int | None
    dataset_id: int | None
    flow_id: int | None
    setup_id: int | None
    user: str | None
    upload_ms: int | None
    status: str
    learner: str
    params: dict[str, str]
    operators: list[OperatorSpec]
    pipeline_name: str
    histories: dict[str, tuple[list[int], list[float]]]
    tags: dict[str, str]
    complete: bool
    signature: str
    missing: list[str]


def flow_learner(flow_id: int | None, known: Known, fallback: str | None = None) -> str:
    """A flow's full name (``weka.J48(1)``) when known: the learner of its configurations."""
    if flow_id is not None and flow_id in known.flows:
        return known.flows[flow_id].full_name
    if flow_id is not None and flow_id in known.flow_names:
        return known.flow_names[flow_id]
    if fallback:
        return fallback
    return f"openml flow {flow_id}" if flow_id is not None else "openml flow unknown"


def learner_name(evidence: RunEvidence, known: Known) -> str:
    """The learner of a run's configuration (see :func:`flow_learner`)."""
    return flow_learner(evidence.flow_id, known, evidence.flow_name)


def component_paths(flow: FlowRecord | None) -> dict[int, str]:
    """Flow id -> operator name (the root is ``root``, components their identifier path)."""
    if flow is None:
        return {}
    return {sub.flow_id: (path or ROOT) for path, sub in reversed(flow.walk())}


def _param_key(paths: dict[int, str], root_id: int | None, component: int | None, name: str) -> str:
    if component is None or component == root_id:
        return name
    return f"{paths.get(component, str(component))}__{name}"


def params_from_setup(setup: SetupRecord, known: Known) -> dict[str, str]:
    """A setup's parameter values keyed by operator."""
    paths = component_paths(known.flows.get(setup.flow_id))
    return {
        _param_key(paths, setup.flow_id, sp.flow_id, sp.name): sp.value
        if sp.value is not None
        else ""
        for sp in setup.parameters
    }


def qualified_params(evidence: RunEvidence, known: Known) -> dict[str, str]:
    """The run's parameter values keyed by operator (see the module docstring).

    From the run description when there is one, else from the run's setup.
    """
    if evidence.description is not None and evidence.description.parameters:
        paths = component_paths(
            known.flows.get(evidence.flow_id) if evidence.flow_id is not None else None
        )
        return {
            _param_key(paths, evidence.flow_id, p.component, p.name): p.value
            for p in evidence.description.parameters
        }
    setup = known.setups.get(evidence.setup_id) if evidence.setup_id is not None else None
    if evidence.description is None and setup is not None and setup.flow_id == evidence.flow_id:
        return params_from_setup(setup, known)
    return {}


def operators_of(evidence: RunEvidence, known: Known, params: dict[str, str]) -> list[OperatorSpec]:
    """One operator per (sub)flow, root first, each with its own parameter values."""
    flow = known.flows.get(evidence.flow_id) if evidence.flow_id is not None else None
    grouped: dict[str, dict[str, str]] = {}
    for qualified, value in params.items():
        op, sep, name = qualified.partition("__")
        grouped.setdefault(op if sep else ROOT, {})[name if sep else qualified] = value
    if flow is not None:
        ops = []
        for path, sub in flow.walk():
            name = path or ROOT
            parent = ROOT if "/" not in path else path.rsplit("/", 1)[0]
            ops.append(
                OperatorSpec(
                    name=name,
                    kind=sub.full_name,
                    params=grouped.pop(name, {}),
                    inputs=(parent,) if path else (),
                )
            )
        for name, values in sorted(grouped.items()):  # settings of components the flow lacks
            ops.append(OperatorSpec(name=name, kind=f"openml flow {name}", params=values))
        return ops
    kind = learner_name(evidence, known)
    ops = [OperatorSpec(name=ROOT, kind=kind, params=grouped.pop(ROOT, {}))]
    for name, values in sorted(grouped.items()):
        ops.append(
            OperatorSpec(name=name, kind=f"openml flow {name}", params=values, inputs=(ROOT,))
        )
    return ops


def histories(evidence: RunEvidence) -> dict[str, tuple[list[int], list[float]]]:
    """Metric histories: run-level values, per-fold and per-sample values."""
    out: dict[str, tuple[list[int], list[float]]] = {}
    run_level: dict[str, float] = {}
    folds: dict[str, dict[tuple[int, int], float]] = {}
    samples: dict[str, dict[tuple[int, int, int], float]] = {}
    for entry in evidence.listed:
        if entry.value is not None:
            run_level[entry.function] = entry.value
        for repeat, row in enumerate(_values(entry.values)):
            for fold, value in enumerate(row):
                folds.setdefault(entry.function, {})[(repeat, fold)] = value
    d = evidence.description
    if d is not None:
        run_level.update(d.evaluations)
        for measure, values in d.fold_evaluations.items():
            folds[measure] = dict(values)
        for measure, svalues in d.sample_evaluations.items():
            samples[measure] = dict(svalues)
    for measure, value in run_level.items():
        name, scaled = from_openml_measure(measure, value)
        out[name] = ([0], [scaled])
    for measure, fvalues in folds.items():
        name, _ = from_openml_measure(measure, 0.0)
        n_folds = max(f for _, f in fvalues) + 1
        steps, vals = [], []
        for (repeat, fold), value in sorted(fvalues.items()):
            steps.append(repeat * n_folds + fold)
            vals.append(from_openml_measure(measure, value)[1])
        out[f"{name}.folds"] = (steps, vals)
    for measure, svalues in samples.items():
        name, _ = from_openml_measure(measure, 0.0)
        n_folds = max(f for _, f, _ in svalues) + 1
        n_samples = max(s for _, _, s in svalues) + 1
        steps, vals = [], []
        for (repeat, fold, sample), value in sorted(svalues.items()):
            steps.append((repeat * n_folds + fold) * n_samples + sample)
            vals.append(from_openml_measure(measure, value)[1])
        out[f"{name}.samples"] = (steps, vals)
    return out


def _values(text: str | None) -> list[list[float]]:
    """Per-fold values of an evaluation row: JSON ``[[repeat 0 folds], ...]``; junk -> []."""
    if not text:
        return []
    try:
        data = json.loads(text)
    except ValueError:
        return []
    if not isinstance(data, list):
        return []
    rows = []
    for row in data:
        if not isinstance(row, list):
            return []
        try:
            rows.append([float(v) for v in row])
        except (TypeError, ValueError):
            return []
    return rows


def assemble(evidence: RunEvidence, known: Known) -> AssembledRun:
    """The rows of one run from its evidence and the known flows, setups and tasks."""
    params = qualified_params(evidence, known)
    missing = []
    if evidence.description is None:
        missing.append("description")
    elif not (evidence.description.evaluations or evidence.description.error):
        missing.append("evaluations")
    if evidence.flow_id is not None and evidence.flow_id not in known.flows:
        missing.append(f"flow {evidence.flow_id}")
    if evidence.task_id is not None and evidence.task_id not in known.tasks:
        missing.append(f"task {evidence.task_id}")
    if not params and evidence.description is None and evidence.setup_id is not None:
        missing.append(f"setup {evidence.setup_id}")
    uploader = evidence.uploader
    tags: dict[str, str] = {}
    d = evidence.description
    for key, value in (
        ("openml.run_id", evidence.run_id),
        ("openml.task_id", evidence.task_id),
        ("openml.flow_id", evidence.flow_id),
        ("openml.setup_id", evidence.setup_id),
        ("openml.uploader", uploader),
        ("openml.uploader_name", (d and d.uploader_name) or known.users.get(uploader or -1)),
        ("openml.upload_time", evidence.upload_time),
        ("openml.flow_name", evidence.flow_name),
        ("openml.setup_string", d and d.setup_string),
        ("openml.error", evidence.error),
        ("openml.requested_as", evidence.requested_as),
    ):
        if value is not None and value != "":
            tags[key] = str(value)
    if d is not None:
        for tag in d.tags:
            tags[f"openml.tag.{tag}"[:512]] = ""
        for measure, array in d.arrays.items():
            tags[f"openml.per_class.{from_openml_measure(measure, 0.0)[0]}"[:512]] = array
    operators = operators_of(evidence, known, params)
    learner = learner_name(evidence, known)
    content = {
        "evidence": evidence.content(),
        "missing": missing,
        "learner": learner,
        "params": params,
        "operators": [op.fingerprint for op in operators],
        "user_name": tags.get("openml.uploader_name"),
    }
    complete = not missing
    signature = (
        f"{'complete' if complete else 'partial'}:{evidence.header_fingerprint()}:"
        f"{fingerprint(content)[:40]}"
    )
    return AssembledRun(
        run_id=evidence.run_id,
        task_id=evidence.task_id,
        dataset_id=evidence.dataset_id,
        flow_id=evidence.flow_id,
        setup_id=evidence.setup_id,
        user=None if uploader is None else str(uploader),
        upload_ms=upload_ms(evidence.upload_time),
        status="FAILED" if evidence.error else "FINISHED",
        learner=learner,
        params=params,
        operators=operators,
        pipeline_name=learner,
        histories=histories(evidence),
        tags=tags,
        complete=complete,
        signature=signature,
        missing=missing,
    )


def stored_state(signature: str | None) -> tuple[bool, str]:
    """``(complete, header fingerprint)`` of a stored run signature."""
    if not signature:
        return False, ""
    state, _, rest = signature.partition(":")
    return state == "complete", rest.partition(":")[0]


__all__ = [
    "ROOT",
    "AssembledRun",
    "Known",
    "RunEvidence",
    "assemble",
    "component_paths",
    "flow_learner",
    "histories",
    "learner_name",
    "operators_of",
    "params_from_setup",
    "qualified_params",
    "split_full_name",
    "stored_state",
    "upload_ms",
]
