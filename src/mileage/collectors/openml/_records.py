"""What the OpenML collector reads, as plain records (parsed from OpenML's XML by ``_parse``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParameterSetting:
    """One hyperparameter value of a run or setup.

    Attributes:
        name: Parameter name as the flow declares it.
        value: Value as OpenML serialises it (JSON-ish text).
        component: Id of the (sub)flow the parameter belongs to, when given.
    """

    name: str
    value: str
    component: int | None = None


@dataclass
class RunDescription:
    """A run as ``run/<id>`` describes it."""

    run_id: int
    task_id: int
    uploader: int | None = None
    uploader_name: str | None = None
    task_type: str | None = None
    flow_id: int | None = None
    flow_name: str | None = None
    setup_id: int | None = None
    setup_string: str | None = None
    error: str | None = None
    upload_time: str | None = None
    dataset_id: int | None = None
    dataset_name: str | None = None
    parameters: list[ParameterSetting] = field(default_factory=list)
    #: Run-level value per measure (over all folds, as OpenML computes it).
    evaluations: dict[str, float] = field(default_factory=dict)
    #: Per-class arrays of run-level measures, as OpenML's JSON text.
    arrays: dict[str, str] = field(default_factory=dict)
    #: ``{measure: {(repeat, fold): value}}``.
    fold_evaluations: dict[str, dict[tuple[int, int], float]] = field(default_factory=dict)
    #: ``{measure: {(repeat, fold, sample): value}}`` (learning-curve tasks).
    sample_evaluations: dict[str, dict[tuple[int, int, int], float]] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    #: Parts of the document that were unusable and left out (one sentence each).
    problems: list[str] = field(default_factory=list)


@dataclass
class FlowRecord:
    """A flow (``flow/<id>``) with its components, recursively."""

    flow_id: int
    name: str
    version: str | None = None
    external_version: str | None = None
    uploader: int | None = None
    upload_date: str | None = None
    description: str | None = None
    dependencies: str | None = None
    #: Declared parameters and their default values.
    parameters: dict[str, str | None] = field(default_factory=dict)
    #: ``(identifier, subflow)`` in document order.
    components: list[tuple[str, FlowRecord]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        """``name(version)``, OpenML's unique name of a flow."""
        return f"{self.name}({self.version})" if self.version else self.name

    def walk(self, path: str = "") -> list[tuple[str, FlowRecord]]:
        """``(path, flow)`` for this flow and every component, pre-order; the root's path is ''."""
        out = [(path, self)]
        for identifier, sub in self.components:
            out.extend(sub.walk(f"{path}/{identifier}" if path else identifier))
        return out

    def structure(self) -> dict[str, Any]:
        """The flow tree as JSON: name, version, defaults and components."""
        return {
            "id": self.flow_id,
            "name": self.name,
            "version": self.version,
            "external_version": self.external_version,
            "parameters": dict(self.parameters),
            "components": [
                {"identifier": ident, "flow": sub.structure()} for ident, sub in self.components
            ],
        }

    @classmethod
    def from_structure(cls, data: dict[str, Any]) -> FlowRecord:
        """Inverse of :meth:`structure` (what the store keeps of a flow)."""
        return cls(
            flow_id=int(data["id"]),
            name=str(data["name"]),
            version=data.get("version"),
            external_version=data.get("external_version"),
            parameters=dict(data.get("parameters") or {}),
            components=[
                (str(c["identifier"]), cls.from_structure(c["flow"]))
                for c in data.get("components") or []
            ],
        )


@dataclass(frozen=True)
class SetupParameter:
    """One parameter of a setup, attributed to the (sub)flow that declares it."""

    flow_id: int | None
    flow_name: str | None
    full_name: str | None
    name: str
    data_type: str | None
    default_value: str | None
    value: str | None


@dataclass
class SetupRecord:
    """A setup (``setup/<id>``): a flow and the values of its parameters."""

    setup_id: int
    flow_id: int
    parameters: list[SetupParameter] = field(default_factory=list)


@dataclass
class TaskRecord:
    """A task (``task/<id>``)."""

    task_id: int
    task_type_id: int | None = None
    task_type: str | None = None
    dataset_id: int | None = None
    target: str | None = None
    estimation: dict[str, str] = field(default_factory=dict)
    measures: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


@dataclass
class DatasetRecord:
    """A dataset description (``data/<id>``)."""

    dataset_id: int
    name: str
    version: str | None = None
    upload_date: str | None = None
    format: str | None = None
    default_target: str | None = None
    url: str | None = None
    md5: str | None = None
    status: str | None = None
    licence: str | None = None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunListEntry:
    """One row of ``run/list``."""

    run_id: int
    task_id: int | None
    setup_id: int | None
    flow_id: int | None
    uploader: int | None
    upload_time: str | None
    error_message: str


@dataclass(frozen=True)
class EvaluationEntry:
    """One row of ``evaluation/list`` (one run and one measure)."""

    run_id: int
    task_id: int | None
    setup_id: int | None
    flow_id: int | None
    flow_name: str | None
    data_id: int | None
    data_name: str | None
    function: str
    upload_time: str | None
    uploader: int | None
    value: float | None
    values: str | None
    array_data: str | None


@dataclass(frozen=True)
class FlowListEntry:
    """One row of ``flow/list``."""

    flow_id: int
    full_name: str | None
    name: str
    version: str | None
    external_version: str | None
    uploader: int | None


@dataclass
class StudyRecord:
    """A study or benchmark suite (``study/<id>``): the entities it groups."""

    study_id: int
    name: str | None = None
    main_entity_type: str | None = None
    task_ids: list[int] = field(default_factory=list)
    run_ids: list[int] = field(default_factory=list)
    data_ids: list[int] = field(default_factory=list)
    flow_ids: list[int] = field(default_factory=list)
    setup_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ServerError:
    """An OpenML error document (``<oml:error>``)."""

    code: int
    message: str
    additional: str | None = None
