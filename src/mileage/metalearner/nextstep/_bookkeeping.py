"""Modelling choices versus bookkeeping among the parameters of a chain.

MLflow parameters hold more than choices: results logged as parameters (``val_mape``), paths
(``gn_output_dirname``), seeds, timestamps, run ids and command lines. They change at nearly
every run, so a next-change model that keeps them learns to rank them first and is "right"
about something nobody chose. :func:`bookkeeping_units` tells them apart, declared by name
and learnt from the values the chain holds; :func:`modelling_only` drops them from chains
whose units are parameters (operator chains are left alone).

Rules, in order (the first that matches gives the reason):

* ``seed``: seeds and random states (``seed``, ``random_state``, ``rng_seed``...);
* ``execution``: settings that do not change the model (``n_jobs``, ``verbose``, workers);
* ``result``: a metric name with a result prefix (``val_mape``, ``test_auc``, ``best_loss``),
  or numeric values equal to one of the run's own metric values (learnt);
* ``path``: path-like names (``output_dir``, ``*_dirname``, ``checkpoint``...) or values
  that are file paths, unless the name says it is input data (``train-data-path``: a data
  choice);
* ``timestamp``: time-like names (``timestamp``, ``date``, ``*_at``) or ISO-8601 values;
* ``identifier``: run ids, git commits, hashes, command lines (``cmd-sys.argv``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace

from mileage.metalearner.nextstep._chains import Chain

_SPLIT = re.compile(r"[^a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEED = {"seed", "seeds", "randomstate", "random_state", "random_seed", "rng"}
_EXECUTION = {
    "n_jobs",
    "njobs",
    "nthread",
    "nthreads",
    "num_threads",
    "num_workers",
    "workers",
    "verbose",
    "verbosity",
    "verbose_eval",
    "silent",
    "log_level",
    "logging_level",
    "progress_bar",
}
_METRIC = {
    "loss",
    "acc",
    "accuracy",
    "mape",
    "mae",
    "mse",
    "rmse",
    "auc",
    "f1",
    "score",
    "r2",
    "error",
    "precision",
    "recall",
    "logloss",
}
_RESULT_PREFIX = {"val", "valid", "validation", "test", "train", "best", "final", "eval", "cv"}
_PATH = {"dir", "dirname", "path", "file", "filename", "folder", "outdir", "ckpt"}
_PATH |= {"checkpoint", "logdir", "savedir", "tmpdir"}
_DATA = {"data", "dataset", "train", "valid", "validation", "test", "input"}
_TIME = {"timestamp", "date", "datetime", "created", "started", "finished"}
_IDENT = {"run_id", "runid", "run_name", "uuid", "commit", "git", "sha", "hash", "argv"}
_IDENT |= {"cmd", "command", "hostname", "host", "user"}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2})?)?")
_HEX = re.compile(r"^[0-9a-f]{32,64}$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _tokens(name: str) -> list[str]:
    return [t for t in _SPLIT.split(_CAMEL.sub("_", name).lower()) if t]


def by_name(name: str) -> str | None:
    """The bookkeeping reason a parameter's name declares, or None for a modelling choice."""
    lowered = name.lower().replace("-", "_").replace(".", "_")
    tokens = _tokens(name)
    words = set(tokens)
    if lowered in _SEED or words & {"seed", "seeds"} or lowered.endswith("random_state"):
        return "seed"
    if lowered in _EXECUTION or words & {"verbose", "verbosity"}:
        return "execution"
    if len(tokens) >= 2 and tokens[0] in _RESULT_PREFIX and words & _METRIC:
        return "result"
    if words & _PATH and not words & _DATA:
        return "path"
    if words & _TIME or lowered.endswith("_at"):
        return "timestamp"
    if lowered in _IDENT or words & {"argv", "uuid", "commit", "git", "sha"}:
        return "identifier"
    return None


def by_values(values: Iterable[str | None], name: str) -> str | None:
    """The bookkeeping reason a parameter's values show (learnt), or None."""
    seen = [v.strip() for v in values if v is not None and v.strip()]
    if not seen:
        return None
    data = bool(set(_tokens(name)) & _DATA)

    def share(test: Callable[[str], bool]) -> float:
        return sum(1 for v in seen if test(v)) / len(seen)

    if not data and share(_looks_like_path) >= 0.8:
        return "path"
    if share(lambda v: bool(_ISO.match(v))) >= 0.8:
        return "timestamp"
    if share(lambda v: bool(_HEX.match(v.lower()))) >= 0.8:
        return "identifier"
    return None


def _looks_like_path(value: str) -> bool:
    if " " in value or _NUMBER.match(value):
        return False
    return "/" in value or "\\" in value or value.startswith(("~", "file:", "s3:", "gs:"))


def _equals_a_metric(value: str | None, metrics: Iterable[float]) -> bool:
    if value is None or not _NUMBER.match(value.strip()):
        return False
    number = float(value)
    return any(abs(number - m) <= 1e-9 + 1e-6 * abs(m) for m in metrics)


def bookkeeping_units(chains: Sequence[Chain]) -> dict[str, str]:
    """Parameters of ``chains`` that are bookkeeping, with the reason.

    A parameter whose numeric value equals one of the run's own metric values
    (``Step.metric_values``) in at least half of its runs is a result logged as a parameter.

    Args:
        chains: Chains whose units are parameters (others are ignored).
    """
    values: dict[str, list[str | None]] = {}
    results: dict[str, list[bool]] = {}
    for chain in chains:
        if chain.unit != "params":
            continue
        for step in chain.steps:
            metrics = step.metric_values
            for unit in step.units:
                value = step.versions.get(unit)
                values.setdefault(unit, []).append(value)
                if metrics:
                    results.setdefault(unit, []).append(_equals_a_metric(value, metrics))
    out: dict[str, str] = {}
    for unit, seen in values.items():
        reason = by_name(unit) or by_values(seen, unit)
        hits = results.get(unit, [])
        if reason is None and hits and sum(hits) / len(hits) >= 0.5:
            reason = "result"
        if reason is not None:
            out[unit] = reason
    return out


def modelling_only(
    chains: Sequence[Chain], bookkeeping: Mapping[str, str] | None = None
) -> list[Chain]:
    """Parameter chains without their bookkeeping parameters (operator chains unchanged).

    Args:
        chains: The chains.
        bookkeeping: Units to drop; :func:`bookkeeping_units` of ``chains`` when None.
    """
    drop = set(bookkeeping_units(chains) if bookkeeping is None else bookkeeping)
    if not drop:
        return list(chains)
    out = []
    for chain in chains:
        if chain.unit != "params":
            out.append(chain)
            continue
        steps = [
            replace(
                s,
                units=tuple(u for u in s.units if u not in drop),
                changed=frozenset(u for u in s.changed if u not in drop),
                roles={k: v for k, v in s.roles.items() if k not in drop},
                depth={k: v for k, v in s.depth.items() if k not in drop},
                descendants={k: v for k, v in s.descendants.items() if k not in drop},
                versions={k: v for k, v in s.versions.items() if k not in drop},
            )
            for s in chain.steps
        ]
        out.append(Chain(chain.key, chain.user, steps, chain.unit, chain.origin, chain.synthetic))
    return out


__all__ = ["bookkeeping_units", "by_name", "by_values", "modelling_only"]
