"""Parsers of OpenML's XML documents into plain records.

Every parser either returns a record or raises :class:`~mileage.platform.errors.DataError`
naming the document and what is wrong; nothing else escapes, whatever the input (the
property tests feed them mutated and truncated recordings). Structural fields (an id, the
task of a run) are required; a measure or quality whose value cannot be read is left out and
reported in the record's ``problems`` rather than failing the whole document.

Tags are matched by local name, so documents with or without the ``oml:`` namespace parse
alike. Only the standard library's expat-based parser is used; it resolves no external
entities and bounds entity expansion.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TypeVar

from mileage.collectors.openml._records import (
    DatasetRecord,
    EvaluationEntry,
    FlowListEntry,
    FlowRecord,
    ParameterSetting,
    RunDescription,
    RunListEntry,
    ServerError,
    SetupParameter,
    SetupRecord,
    StudyRecord,
    TaskRecord,
)
from mileage.platform.errors import DataError

T = TypeVar("T")
_MAX_DEPTH = 64  # flows nest components; deeper documents are rejected, not recursed into


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _root(text: str | bytes, expected: tuple[str, ...], what: str) -> ET.Element:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{what}: the document is not UTF-8 ({exc.reason})") from None
    try:
        root = ET.fromstring(text)
    except (ET.ParseError, ValueError) as exc:
        raise DataError(f"{what}: not well-formed XML ({exc})") from None
    if _local(root.tag) not in expected:
        raise DataError(
            f"{what}: expected an <oml:{expected[0]}> document, got <{_local(root.tag) or '?'}>"
        )
    return root


def _kids(el: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in el if _local(c.tag) == name]


def _kid(el: ET.Element | None, name: str) -> ET.Element | None:
    if el is None:
        return None
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _text(el: ET.Element | None, name: str | None = None) -> str | None:
    node = _kid(el, name) if name else el
    if node is None or node.text is None:
        return None
    value = node.text.strip()
    return value or None


def _as_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            return None
        return int(number) if math.isfinite(number) and number.is_integer() else None


def _as_float(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _required_int(el: ET.Element, name: str, what: str) -> int:
    raw = _text(el, name)
    value = _as_int(raw)
    if value is None:
        shown = "missing" if raw is None else repr(raw[:40])
        raise DataError(f"{what}: <oml:{name}> must be an integer, got {shown}")
    return value


def _tags(el: ET.Element) -> list[str]:
    return [t for t in (_text(c) for c in _kids(el, "tag")) if t]


def parse_error(text: str | bytes) -> ServerError | None:
    """The OpenML error document in ``text``, or None when it is not one."""
    try:
        root = _root(text, ("error",), "error document")
    except DataError:
        return None
    code = _as_int(_text(root, "code"))
    if code is None:
        return None
    return ServerError(code, _text(root, "message") or "", _text(root, "additional_information"))


def parse_run(text: str | bytes) -> RunDescription:
    """A run description (``run/<id>``).

    Raises:
        DataError: The document is not a run, or its run id or task id is unreadable.
    """
    root = _root(text, ("run",), "run description")
    what = "run description"
    run_id = _required_int(root, "run_id", what)
    what = f"run {run_id}"
    run = RunDescription(run_id=run_id, task_id=_required_int(root, "task_id", what))
    run.uploader = _as_int(_text(root, "uploader"))
    run.uploader_name = _text(root, "uploader_name")
    run.task_type = _text(root, "task_type")
    run.flow_id = _as_int(_text(root, "flow_id"))
    run.flow_name = _text(root, "flow_name")
    run.setup_id = _as_int(_text(root, "setup_id"))
    run.setup_string = _text(root, "setup_string")
    run.error = _text(root, "error") or _text(root, "error_message")
    run.upload_time = _text(root, "upload_time")
    run.tags = _tags(root)
    for setting in _kids(root, "parameter_setting"):
        name = _text(setting, "name")
        if name is None:
            run.problems.append("a parameter setting without a name was left out")
            continue
        run.parameters.append(
            ParameterSetting(
                name=name,
                value=_text(setting, "value") or "",
                component=_as_int(_text(setting, "component")),
            )
        )
    dataset = _kid(_kid(root, "input_data"), "dataset")
    if dataset is not None:
        run.dataset_id = _as_int(_text(dataset, "did"))
        run.dataset_name = _text(dataset, "name")
    output = _kid(root, "output_data")
    for ev in _kids(output, "evaluation") if output is not None else []:
        _add_evaluation(run, ev)
    return run


def _add_evaluation(run: RunDescription, ev: ET.Element) -> None:
    name = _text(ev, "name")
    if name is None:
        run.problems.append("an evaluation without a measure name was left out")
        return
    raw = _text(ev, "value")
    value = _as_float(raw)
    array = _text(ev, "array_data")
    repeat, fold, sample = (_as_int(ev.get(k)) for k in ("repeat", "fold", "sample"))
    has = {k for k in ("repeat", "fold", "sample") if ev.get(k) is not None}
    if (
        (value is None and (raw is not None or not array))
        or ("repeat" in has and repeat is None)
        or ("fold" in has and fold is None)
        or ("sample" in has and sample is None)
    ):
        run.problems.append(f"measure {name!r}: unreadable value or fold {raw!r} was left out")
        return
    if "repeat" in has and "fold" in has and repeat is not None and fold is not None:
        if value is None:
            return
        if "sample" in has and sample is not None:
            run.sample_evaluations.setdefault(name, {})[(repeat, fold, sample)] = value
        else:
            run.fold_evaluations.setdefault(name, {})[(repeat, fold)] = value
        return
    if value is not None:
        run.evaluations[name] = value
    if array:
        run.arrays[name] = array


def parse_flow(text: str | bytes) -> FlowRecord:
    """A flow (``flow/<id>``) with its components.

    Raises:
        DataError: The document is not a flow, a (sub)flow lacks its id or name, or the
            components nest deeper than 64 levels.
    """
    root = _root(text, ("flow",), "flow description")
    return _flow(root, 0)


def _flow(el: ET.Element, depth: int) -> FlowRecord:
    if depth > _MAX_DEPTH:
        raise DataError(f"flow description: components nest deeper than {_MAX_DEPTH} levels")
    flow_id = _required_int(el, "id", "flow description")
    name = _text(el, "name")
    if name is None:
        raise DataError(f"flow {flow_id}: <oml:name> is missing")
    flow = FlowRecord(
        flow_id=flow_id,
        name=name,
        version=_text(el, "version"),
        external_version=_text(el, "external_version"),
        uploader=_as_int(_text(el, "uploader")),
        upload_date=_text(el, "upload_date"),
        description=_text(el, "description"),
        dependencies=_text(el, "dependencies"),
        tags=_tags(el),
    )
    for param in _kids(el, "parameter"):
        pname = _text(param, "name")
        if pname is not None:
            flow.parameters[pname] = _text(param, "default_value")
    for component in _kids(el, "component"):
        sub = _kid(component, "flow")
        if sub is None:
            raise DataError(f"flow {flow_id}: a component has no <oml:flow>")
        identifier = _text(component, "identifier") or str(len(flow.components))
        flow.components.append((identifier, _flow(sub, depth + 1)))
    return flow


def _setup_parameter(el: ET.Element) -> SetupParameter | None:
    name = _text(el, "parameter_name") or _text(el, "name")
    if name is None:
        return None
    return SetupParameter(
        flow_id=_as_int(_text(el, "flow_id")),
        flow_name=_text(el, "flow_name"),
        full_name=_text(el, "full_name"),
        name=name,
        data_type=_text(el, "data_type"),
        default_value=_text(el, "default_value"),
        value=_text(el, "value"),
    )


def _setup(el: ET.Element, what: str) -> SetupRecord:
    setup_id = _required_int(el, "setup_id", what)
    setup = SetupRecord(
        setup_id=setup_id, flow_id=_required_int(el, "flow_id", f"setup {setup_id}")
    )
    for param in _kids(el, "parameter"):
        parsed = _setup_parameter(param)
        if parsed is not None:
            setup.parameters.append(parsed)
    return setup


def parse_setup(text: str | bytes) -> SetupRecord:
    """A setup (``setup/<id>``).

    Raises:
        DataError: The document is not a setup or its setup or flow id is unreadable.
    """
    return _setup(_root(text, ("setup_parameters",), "setup description"), "setup description")


def parse_task(text: str | bytes) -> TaskRecord:
    """A task (``task/<id>``).

    Raises:
        DataError: The document is not a task or its task id is unreadable.
    """
    root = _root(text, ("task",), "task description")
    task = TaskRecord(task_id=_required_int(root, "task_id", "task description"))
    task.task_type_id = _as_int(_text(root, "task_type_id"))
    task.task_type = _text(root, "task_type")
    task.tags = _tags(root)
    for inp in _kids(root, "input"):
        kind = inp.get("name")
        if kind == "source_data":
            data = _kid(inp, "data_set")
            task.dataset_id = _as_int(_text(data, "data_set_id"))
            task.target = _text(data, "target_feature")
        elif kind == "estimation_procedure":
            proc = _kid(inp, "estimation_procedure")
            if proc is not None:
                for key in ("id", "type"):
                    value = _text(proc, key)
                    if value is not None:
                        task.estimation[key] = value
                for param in _kids(proc, "parameter"):
                    pname, value = param.get("name"), _text(param)
                    if pname and value is not None:
                        task.estimation[pname] = value
        elif kind == "evaluation_measures":
            measures = _kid(inp, "evaluation_measures")
            if measures is not None:
                task.measures = [m for m in map(_text, _kids(measures, "evaluation_measure")) if m]
    return task


def parse_dataset(text: str | bytes) -> DatasetRecord:
    """A dataset description (``data/<id>``).

    Raises:
        DataError: The document is not a dataset description, or its id or name is missing.
    """
    root = _root(text, ("data_set_description",), "dataset description")
    dataset_id = _required_int(root, "id", "dataset description")
    name = _text(root, "name")
    if name is None:
        raise DataError(f"dataset {dataset_id}: <oml:name> is missing")
    return DatasetRecord(
        dataset_id=dataset_id,
        name=name,
        version=_text(root, "version"),
        upload_date=_text(root, "upload_date"),
        format=_text(root, "format"),
        default_target=_text(root, "default_target_attribute"),
        url=_text(root, "url"),
        md5=_text(root, "md5_checksum"),
        status=_text(root, "status"),
        licence=_text(root, "licence"),
        tags=_tags(root),
    )


def parse_qualities(text: str | bytes) -> dict[str, float | None]:
    """Data qualities (``data/qualities/<id>``): name -> value (None when not numeric).

    Raises:
        DataError: The document is not a qualities document.
    """
    root = _root(text, ("data_qualities",), "dataset qualities")
    out: dict[str, float | None] = {}
    for quality in _kids(root, "quality"):
        name = _text(quality, "name")
        if name:
            value = _as_float(_text(quality, "value"))
            out[name] = value if value is not None and math.isfinite(value) else None
    return out


def _entries(
    text: str | bytes, root_name: str, entry: str, what: str, build: Callable[[ET.Element], T]
) -> list[T]:
    root = _root(text, (root_name,), what)
    return [build(el) for el in _kids(root, entry)]


def parse_run_list(text: str | bytes) -> list[RunListEntry]:
    """Rows of ``run/list``.

    Raises:
        DataError: The document is not a run list, or a row has no run id.
    """

    def build(el: ET.Element) -> RunListEntry:
        return RunListEntry(
            run_id=_required_int(el, "run_id", "run list"),
            task_id=_as_int(_text(el, "task_id")),
            setup_id=_as_int(_text(el, "setup_id")),
            flow_id=_as_int(_text(el, "flow_id")),
            uploader=_as_int(_text(el, "uploader")),
            upload_time=_text(el, "upload_time"),
            error_message=_text(el, "error_message") or "",
        )

    return _entries(text, "runs", "run", "run list", build)


def parse_evaluation_list(text: str | bytes) -> list[EvaluationEntry]:
    """Rows of ``evaluation/list``.

    Raises:
        DataError: The document is not an evaluation list, or a row has no run id or measure.
    """

    def build(el: ET.Element) -> EvaluationEntry:
        function = _text(el, "function")
        if function is None:
            raise DataError("evaluation list: a row has no <oml:function>")
        return EvaluationEntry(
            run_id=_required_int(el, "run_id", "evaluation list"),
            task_id=_as_int(_text(el, "task_id")),
            setup_id=_as_int(_text(el, "setup_id")),
            flow_id=_as_int(_text(el, "flow_id")),
            flow_name=_text(el, "flow_name"),
            data_id=_as_int(_text(el, "data_id")),
            data_name=_text(el, "data_name"),
            function=function,
            upload_time=_text(el, "upload_time"),
            uploader=_as_int(_text(el, "uploader")),
            value=_as_float(_text(el, "value")),
            values=_text(el, "values"),
            array_data=_text(el, "array_data"),
        )

    return _entries(text, "evaluations", "evaluation", "evaluation list", build)


def parse_setup_list(text: str | bytes) -> list[SetupRecord]:
    """Setups of ``setup/list``.

    Raises:
        DataError: The document is not a setup list, or a setup has no setup or flow id.
    """
    return _entries(text, "setups", "setup", "setup list", lambda el: _setup(el, "setup list"))


def parse_flow_list(text: str | bytes) -> list[FlowListEntry]:
    """Rows of ``flow/list``.

    Raises:
        DataError: The document is not a flow list, or a row has no id or name.
    """

    def build(el: ET.Element) -> FlowListEntry:
        flow_id = _required_int(el, "id", "flow list")
        name = _text(el, "name")
        if name is None:
            raise DataError(f"flow list: flow {flow_id} has no <oml:name>")
        return FlowListEntry(
            flow_id=flow_id,
            full_name=_text(el, "full_name"),
            name=name,
            version=_text(el, "version"),
            external_version=_text(el, "external_version"),
            uploader=_as_int(_text(el, "uploader")),
        )

    return _entries(text, "flows", "flow", "flow list", build)


def parse_user_list(text: str | bytes) -> dict[int, str]:
    """User id -> user name from ``user/list``.

    Raises:
        DataError: The document is not a user list.
    """
    out: dict[int, str] = {}
    for el in _kids(_root(text, ("users",), "user list"), "user"):
        uid, name = _as_int(_text(el, "id")), _text(el, "username")
        if uid is not None and name is not None:
            out[uid] = name
    return out


def parse_study(text: str | bytes) -> StudyRecord:
    """A study or benchmark suite (``study/<id>``).

    Raises:
        DataError: The document is not a study or its id is unreadable.
    """
    root = _root(text, ("study",), "study")
    study = StudyRecord(study_id=_required_int(root, "id", "study"))
    study.name = _text(root, "name")
    study.main_entity_type = _text(root, "main_entity_type")
    for group, item, target in (
        ("tasks", "task_id", study.task_ids),
        ("runs", "run_id", study.run_ids),
        ("data", "data_id", study.data_ids),
        ("flows", "flow_id", study.flow_ids),
        ("setups", "setup_id", study.setup_ids),
    ):
        for el in _kids(_kid(root, group) or ET.Element("none"), item):
            value = _as_int(_text(el))
            if value is not None:
                target.append(value)
    return study


__all__ = [
    "parse_dataset",
    "parse_error",
    "parse_evaluation_list",
    "parse_flow",
    "parse_flow_list",
    "parse_qualities",
    "parse_run",
    "parse_run_list",
    "parse_setup",
    "parse_setup_list",
    "parse_study",
    "parse_task",
    "parse_user_list",
]
