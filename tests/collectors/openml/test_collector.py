"""The OpenML collector against the recorded responses: over HTTP on 127.0.0.1 and from the
cache folder, on SQLite and PostgreSQL, with faults injected on the real socket."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from mileage.collectors.openml import OpenmlCollector, Selection
from mileage.platform.errors import CollectorError, ConfigError, SourceUnavailableError
from mileage.platform.settings import Settings
from mileage.platform.store import TraceStore
from mileage.platform.store import schema as t
from mileage.testing.dump import dump_store
from mileage.testing.openml import RecordedOpenmlServer, recorded_selection

EVERYTHING = recorded_selection()
CACHEABLE = Selection(runs=(1,), tasks=(1, 3, 1882), setups=(1,), datasets=(2, -1))


def _collector(
    server: RecordedOpenmlServer, selection: Selection = EVERYTHING, **kwargs: Any
) -> OpenmlCollector:
    kwargs.setdefault("backoff", 0.0)
    return OpenmlCollector(selection, server=server.url, **kwargs)


def _rows(store: TraceStore, table: Any, *columns: str) -> dict[str, Any]:
    with store.connect() as conn:
        return {
            r.external_id: (r if not columns else tuple(getattr(r, c) for c in columns))
            for r in conn.execute(select(table))
        }


def test_every_recorded_object_lands_and_a_second_pass_adds_nothing(
    any_store: TraceStore, openml_server: RecordedOpenmlServer
) -> None:
    first = _collector(openml_server).collect(any_store)
    assert (first.runs_seen, first.runs_written, first.runs_deferred) == (2, 2, 0)

    runs = _rows(any_store, t.runs)
    assert set(runs) == {"12", "100"}  # run/1 describes run 100; run 12 is an evaluation row
    flows = _rows(any_store, t.flows, "structure")
    described = {k for k, (s,) in flows.items() if s}
    assert described == {"4024", "4025", "4026", "1724", "6742", "6743", "5888"}
    assert set(flows) - described == {"60", "67", "100", "101", "5873"}  # known by name only
    tasks = _rows(any_store, t.tasks, "meta", "problem_type")
    assert {k for k, (m, _) in tasks.items() if m["status"] == "ok"} == {"1", "3", "1882"}
    assert tasks["1882"][1] == "multiclass" and tasks["28"][0]["status"] == "missing"
    with any_store.connect() as conn:
        setups = set(conn.execute(select(t.source_configurations.c.external_id)).scalars())
    assert setups == {"100", "1001", "1002", "12"}
    datasets = _rows(any_store, t.datasets, "meta_features")
    assert datasets["2"][0]["n_instances"] == 898 and datasets["2"][0]["n_features"] == 38
    assert datasets["-1"][0]["n_features"] == 20000 and datasets["61"][0] == {}

    run = runs["100"]
    folds = any_store.metric_history(run.id, "roc_auc.folds")
    assert folds["step"].tolist() == list(range(10)) and folds["value"][0] == 0.993338
    assert any_store.metric_history(run.id, "roc_auc")["value"].tolist() == [0.990288]
    assert any_store.metric_history(runs["12"].id, "accuracy")["value"].tolist() == [0.9876]
    assert runs["12"].user == "1" and runs["12"].start_ms == 1412638693000
    with any_store.connect() as conn:
        params = dict(
            conn.execute(
                select(t.params.c.key, t.params.c.value).where(t.params.c.run_id == run.id)
            ).all()
        )
        learner = conn.execute(
            select(t.configurations.c.learner).where(t.configurations.c.id == run.configuration_id)
        ).scalar_one()
        chains = conn.execute(select(t.iterations.c.run_id)).scalars().all()
    assert params == {
        "D": "true",
        "Q": "weka.classifiers.bayes.net.search.local.K2",
        "P": "1",
        "S": "BAYES",
    }
    assert learner == "weka.BayesNet_K2(1)"
    assert sorted(chains) == sorted(r.id for r in runs.values())  # each run in exactly one chain

    before, counts = dump_store(any_store), any_store.counts()
    second = _collector(openml_server).collect(any_store)
    assert (second.runs_written, second.runs_unchanged) == (0, 2)
    assert dump_store(any_store) == before
    after = any_store.counts()
    assert after.pop("collector_passes") == counts.pop("collector_passes") + 1
    assert after == counts


def test_openml_config_server_is_used_and_openml_python_reads_the_same_server(
    sqlite_store: TraceStore, openml_server: RecordedOpenmlServer
) -> None:
    import openml

    assert openml.config.server == openml_server.url  # set by the fixture
    report = OpenmlCollector(Selection(flows=(4024,)), backoff=0).collect(sqlite_store)
    assert report.source == f"127.0.0.1:{openml_server.port}" and report.flows == 4
    # the reference client sees the same documents through the same server
    flow = openml.flows.get_flow(4024)
    assert [c.flow_id for c in flow.components.values()] == [4025]
    assert openml.tasks.get_task(1882, download_splits=False).dataset_id == 2


def test_cache_folder_and_server_give_the_same_rows_and_never_double(
    tmp_path: Path, openml_responses: Path, openml_server: RecordedOpenmlServer
) -> None:
    cached = TraceStore.open(f"sqlite:///{tmp_path / 'cache.db'}")
    served = TraceStore.open(f"sqlite:///{tmp_path / 'served.db'}")
    report = OpenmlCollector(CACHEABLE, cache_dir=openml_responses).collect(cached)
    assert report.source == "test.openml.org" and report.reader == "cache"
    assert not openml_server.calls
    _collector(openml_server, CACHEABLE, source_uri="test.openml.org").collect(served)
    assert dump_store(cached, signatures=False) == dump_store(served, signatures=False)
    # the same server through the other route: one source, nothing doubled
    before = dump_store(cached)
    again = _collector(openml_server, CACHEABLE, source_uri="test.openml.org").collect(cached)
    assert again.runs_written == 0 and dump_store(cached) == before
    assert cached.counts()["sources"] == 1
    cached.close()
    served.close()


def test_cache_folder_selections_that_need_lists_are_reported(
    sqlite_store: TraceStore, openml_responses: Path
) -> None:
    report = OpenmlCollector(
        Selection(uploaders=(1,), tasks=(1882,)), cache_dir=openml_responses
    ).collect(sqlite_store)
    assert report.runs_seen == 0 and report.tasks == 1
    assert any("needs an OpenML server" in w for w in report.warnings)
    with pytest.raises(ConfigError, match="does not exist"):
        OpenmlCollector(CACHEABLE, cache_dir=openml_responses / "nope").collect(sqlite_store)
    with pytest.raises(ConfigError, match="nothing selected"):
        OpenmlCollector(Selection(), cache_dir=openml_responses)


def test_transient_server_errors_are_retried(
    sqlite_store: TraceStore, openml_server: RecordedOpenmlServer, fast_settings: Settings
) -> None:
    openml_server.fail(r"^run/12$", "503", "reset")
    openml_server.fail(r"^task/1882$", "garbage", "truncate")
    openml_server.fail(r"^flow/4024$", "timeout")
    started = time.perf_counter()
    report = _collector(openml_server, settings=fast_settings).collect(sqlite_store)
    assert report.runs_written == 2 and report.runs_deferred == 0
    assert openml_server.calls.count("run/12") == 3
    assert openml_server.calls.count("task/1882") == 3
    assert openml_server.calls.count("flow/4024") == 2
    assert time.perf_counter() - started < 15
    assert _rows(sqlite_store, t.tasks, "problem_type")["1882"] == ("multiclass",)


def test_a_dead_server_stops_the_pass_with_the_run_and_the_fix_then_it_resumes(
    tmp_path: Path, openml_server: RecordedOpenmlServer, fast_settings: Settings
) -> None:
    clean = TraceStore.open(f"sqlite:///{tmp_path / 'clean.db'}")
    _collector(openml_server, batch_size=1, settings=fast_settings).collect(clean)
    openml_server.clear()

    store = TraceStore.open(f"sqlite:///{tmp_path / 'broken.db'}")
    openml_server.fail(r"^run/1$", "500", "500", "500")
    with pytest.raises(SourceUnavailableError) as info:
        _collector(openml_server, batch_size=1, settings=fast_settings).collect(store)
    message = str(info.value)
    assert "run 1:" in message and "after 3 attempts (HTTP 500)" in message
    assert "run the same command again" in message
    assert set(_rows(store, t.runs)) == {"12"}  # the batch before the failure is kept
    with store.connect() as conn:
        status = conn.execute(select(t.collector_passes.c.status)).scalars().all()
    assert status == ["failed"]

    resumed = _collector(openml_server, batch_size=1, settings=fast_settings).collect(store)
    assert resumed.runs_written == 1 and resumed.runs_unchanged == 1
    assert dump_store(store) == dump_store(clean)
    store.close()
    clean.close()


def test_a_server_that_never_answers_times_out(
    sqlite_store: TraceStore, openml_server: RecordedOpenmlServer, fast_settings: Settings
) -> None:
    openml_server.fail(r"^data/2$", "timeout", "timeout", "timeout")
    started = time.perf_counter()
    with pytest.raises(SourceUnavailableError, match=r"dataset 2: .*no complete answer within 1s"):
        _collector(openml_server, Selection(datasets=(2,)), settings=fast_settings).collect(
            sqlite_store
        )
    assert time.perf_counter() - started < 10


def test_unreadable_descriptions_are_deferred_not_lost(
    sqlite_store: TraceStore, openml_server: RecordedOpenmlServer, fast_settings: Settings
) -> None:
    openml_server.fail(r"^run/1$", "truncate", "truncate", "truncate")
    first = _collector(openml_server, settings=fast_settings).collect(sqlite_store)
    assert first.runs_deferred == 1 and set(_rows(sqlite_store, t.runs)) == {"12"}
    assert any("unreadable OpenML answer" in w and "run 1" in w for w in first.warnings)
    second = _collector(openml_server, settings=fast_settings).collect(sqlite_store)
    assert second.runs_written == 1 and set(_rows(sqlite_store, t.runs)) == {"12", "100"}


def test_refusals_name_the_fix(
    sqlite_store: TraceStore, openml_server: RecordedOpenmlServer
) -> None:
    denied = (
        b'<oml:error xmlns:oml="http://openml.org/openml"><oml:code>103</oml:code>'
        b"<oml:message>Authentication failed</oml:message></oml:error>"
    )
    openml_server.override("run/list/uploader/7/limit/10000/offset/0", denied, status=412)
    with pytest.raises(CollectorError, match="API key"):
        _collector(openml_server, Selection(uploaders=(7,))).collect(sqlite_store)


def test_limit_collects_the_oldest_first_and_the_next_pass_continues(
    sqlite_store: TraceStore, openml_server: RecordedOpenmlServer
) -> None:
    selection = Selection(runs=(1, 12), limit=1)
    assert _collector(openml_server, selection).collect(sqlite_store).runs_written == 1
    assert set(_rows(sqlite_store, t.runs)) == {"12"}  # uploaded 2014; run 100's time is unknown
    assert _collector(openml_server, selection).collect(sqlite_store).runs_written == 1
    assert _collector(openml_server, selection).collect(sqlite_store).runs_written == 0
    assert set(_rows(sqlite_store, t.runs)) == {"12", "100"}


def test_a_suite_selects_its_tasks(
    sqlite_store: TraceStore, openml_server: RecordedOpenmlServer
) -> None:
    # The recordings hold no study document; this one is written for the test.
    openml_server.override(
        "study/99",
        b'<oml:study xmlns:oml="http://openml.org/openml"><oml:id>99</oml:id>'
        b"<oml:main_entity_type>task</oml:main_entity_type>"
        b"<oml:tasks><oml:task_id>1882</oml:task_id><oml:task_id>3</oml:task_id></oml:tasks>"
        b"</oml:study>",
    )
    report = _collector(openml_server, Selection(suites=(99, 98))).collect(sqlite_store)
    assert set(_rows(sqlite_store, t.tasks)) == {"1882", "3"}
    assert "run/list/task/1882,3/limit/10000/offset/0" in openml_server.calls
    assert any("study or suite unknown" in w and "98" in w for w in report.warnings)


@st.composite
def _damaged(draw: st.DrawFn, text: bytes) -> bytes:
    a = draw(st.integers(0, len(text)))
    b = draw(st.integers(a, min(len(text), a + 300)))
    return text[:a] + draw(st.binary(max_size=20)) + text[b:]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_damaged_run_descriptions_never_crash_a_pass_nor_vanish(
    tmp_path_factory: pytest.TempPathFactory,
    openml_server: RecordedOpenmlServer,
    openml_responses: Path,
    data: st.DataObject,
) -> None:
    recorded = (openml_responses / "org/openml/test/runs/1/description.xml").read_bytes()
    openml_server.override("run/1", data.draw(_damaged(recorded)))
    store = TraceStore.open(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'trace.db'}")
    try:
        report = _collector(openml_server, Selection(runs=(1,))).collect(store)
        assert store.counts()["runs"] + report.runs_deferred == 1  # landed or deferred, never lost
    finally:
        store.close()


def test_runs_chain_per_uploader_and_task_in_upload_order(
    sqlite_store: TraceStore, openml_server: RecordedOpenmlServer, openml_responses: Path
) -> None:
    # The recordings hold no two runs of one uploader on one task. These answers are the
    # recorded run description with other ids, times and one parameter changed per run.
    recorded = (openml_responses / "org/openml/test/runs/1/description.xml").read_text()
    rows = []
    for run_id, task, when, p_value in (
        (503, 28, "2020-01-03T10:00:00", "3"),
        (501, 28, "2020-01-01T10:00:00", "1"),
        (502, 28, "2020-01-02T10:00:00", "2"),
        (504, 29, "2020-01-01T12:00:00", "1"),
    ):
        doc = (
            recorded.replace("<oml:run_id>100<", f"<oml:run_id>{run_id}<")
            .replace("<oml:task_id>28<", f"<oml:task_id>{task}<")
            .replace("<oml:uploader>1<", "<oml:uploader>77<")
            .replace(
                "<oml:name>P</oml:name>\n      <oml:value>1<",
                f"<oml:name>P</oml:name>\n      <oml:value>{p_value}<",
            )
        )
        openml_server.override(f"run/{run_id}", doc.encode())
        rows.append(
            f"<oml:run><oml:run_id>{run_id}</oml:run_id><oml:task_id>{task}</oml:task_id>"
            "<oml:setup_id>12</oml:setup_id><oml:flow_id>67</oml:flow_id><oml:uploader>77</oml:uploader>"
            f"<oml:task_type_id>1</oml:task_type_id><oml:upload_time>{when}</oml:upload_time>"
            "<oml:error_message></oml:error_message></oml:run>"
        )
    openml_server.override(
        "run/list/uploader/77/limit/10000/offset/0",
        (
            '<oml:runs xmlns:oml="http://openml.org/openml">' + "".join(rows) + "</oml:runs>"
        ).encode(),
    )
    report = _collector(openml_server, Selection(uploaders=(77,))).collect(sqlite_store)
    assert report.runs_written == 4 and report.chains_rebuilt == 2
    with sqlite_store.connect() as conn:
        links = conn.execute(
            select(t.runs.c.external_id, t.iterations.c.position, t.iterations.c.changed_params)
            .join(t.iterations, t.iterations.c.run_id == t.runs.c.id)
            .order_by(t.iterations.c.chain_key, t.iterations.c.position)
        ).all()
    assert [(r.external_id, r.position) for r in links] == [
        ("501", 0),
        ("502", 1),
        ("503", 2),
        ("504", 0),
    ]
    assert [r.changed_params for r in links] == [[], ["P"], ["P"], []]
