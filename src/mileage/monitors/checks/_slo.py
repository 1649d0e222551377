"""The SLO state of a pipeline: healthy or broken, judged on a window of labelled batches.

The window is the labelled rows of the latest ``slo_window`` batches whose metric is final
(enough of their predictions labelled, see :class:`PerformanceOptions`); batches still waiting
for labels do not count, so a label delay never makes the state flap. A monitor that estimates
its metric (``--estimate``) counts those batches at their *estimated* metric instead, weighted
by their scored rows: the state is then judged on the estimate while labels are missing, and
its reason and ``slo_window_estimated`` (batches of the window judged on the estimate) say so. The windowed metric is
the metric over all those rows (the sum of per-row scores over the labelled count, exact for
accuracy). The state is:

* ``broken`` exactly when the windowed metric is below the SLO (above it for MAE);
* ``healthy`` otherwise, the SLO itself included;
* ``unknown`` while no batch is final, the window has fewer than ``min_labels`` labelled rows,
  or no SLO is set.

Every run stores the state with its statistics (``slo_window_metric``, ``slo_window_labelled``,
``slo_window_batches`` and, when known, ``slo_healthy`` 1/0).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from mileage.monitors.checks._findings import BatchReport
from mileage.monitors.checks._performance import HIGHER_IS_BETTER, PerformanceOptions

if TYPE_CHECKING:
    from mileage.monitors._registry import MonitorRecord
    from mileage.platform.store import TraceStore

STATES = ("healthy", "broken", "unknown")


@dataclass(frozen=True)
class SloState:
    """A pipeline's SLO state and the window it was judged on."""

    state: str
    metric: str
    slo: float | None
    value: float | None
    labelled: int
    window: int
    batches: list[str] = field(default_factory=list)
    reason: str = ""
    basis: str = "labels"  # labels | estimate | mixed
    estimated_batches: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _batch_stats(report: BatchReport) -> dict[str, float | None]:
    return {
        s.statistic: s.value
        for s in report.statistics
        if s.check_kind == "performance" and not s.column and not s.slice
    }


def _final(h: dict[str, Any], metric: str) -> bool:
    s = h["stats"]
    return bool(s.get("final") == 1.0 and s.get("labelled") and s.get(metric) is not None)


def _estimated(h: dict[str, Any], metric: str) -> bool:
    s = h["stats"]
    return bool(s.get(f"{metric}_estimated") is not None and s.get("estimated_rows"))


def window_state(history: list[dict[str, Any]], options: PerformanceOptions) -> SloState:
    """The SLO state over ``history`` (oldest batch first, as from ``performance_history``).

    With ``options.estimate`` a batch without a final metric counts at its estimated metric
    (weighted by its scored rows), so the state follows the estimate while labels are missing;
    the reason says how many batches of the window were estimated.
    """
    metric, slo, size = options.metric, options.slo, int(options.slo_window)
    usable = [
        h for h in history if _final(h, metric) or (options.estimate and _estimated(h, metric))
    ]
    window = usable[-size:]
    finals = [h for h in window if _final(h, metric)]
    guessed = [h for h in window if not _final(h, metric)]
    labelled = sum(int(h["stats"]["labelled"]) for h in finals)
    estimated_rows = sum(int(h["stats"]["estimated_rows"]) for h in guessed)
    names = [str(h["batch_id"]) for h in window]
    basis = "estimate" if not finals and guessed else ("labels" if not guessed else "mixed")
    if not window or labelled + estimated_rows < options.min_labels:
        return SloState(
            "unknown",
            metric,
            slo,
            None,
            labelled,
            size,
            names,
            f"coverage is insufficient: {len(window)} batch(es) with a final {metric}, "
            f"{labelled} labelled rows (need {options.min_labels}); wait for labels.",
            basis="labels",
        )
    total = 0.0
    for h in finals:
        s = h["stats"]
        exact = s.get(f"{metric}_sum")
        total += float(exact) if exact is not None else float(s[metric]) * int(s["labelled"])
    for h in guessed:
        s = h["stats"]
        total += float(s[f"{metric}_estimated"]) * int(s["estimated_rows"])
    value = total / (labelled + estimated_rows)
    if guessed:
        over = (
            f"{metric} {value:.4g} ESTIMATED while labels are missing: {len(guessed)} of the "
            f"last {len(window)} batch(es) ({estimated_rows:,} predictions) at their estimated "
            f"{metric}" + (f", {len(finals)} on {labelled:,} labelled rows" if finals else "")
        )
    else:
        over = (
            f"{metric} {value:.4g} over {labelled:,} labelled rows of the last {len(window)} "
            "final batch(es)"
        )
    if slo is None:
        return SloState(
            "unknown",
            metric,
            None,
            value,
            labelled,
            size,
            names,
            f"{over}; no SLO is set (set one with 'mileage monitor edit NAME --slo VALUE').",
            basis=basis,
            estimated_batches=len(guessed),
        )
    better = HIGHER_IS_BETTER[metric]
    broken = value < slo if better else value > slo
    bound = f"SLO: {metric} {'at least' if better else 'at most'} {slo:g}"
    return SloState(
        "broken" if broken else "healthy",
        metric,
        slo,
        value,
        labelled,
        size,
        names,
        f"{over} {'breaks' if broken else 'meets'} the {bound}"
        + ("; labels will confirm or overturn it." if guessed else "."),
        basis=basis,
        estimated_batches=len(guessed),
    )


def apply_slo_state(
    report: BatchReport, history: list[dict[str, Any]], options: PerformanceOptions
) -> SloState:
    """Judge the SLO window with ``report``'s batch in it; record the state in ``report``."""
    current = _batch_stats(report)
    merged = [dict(h) for h in history]
    if current:
        entry = {"batch_id": report.batch_id, "stats": current}
        at = next((i for i, h in enumerate(merged) if h["batch_id"] == report.batch_id), None)
        if at is None:
            merged.append(entry)
        else:
            merged[at] = {**merged[at], **entry}
    state = window_state(merged, options)
    report.stat("performance", None, "slo_window_metric", state.value)
    report.stat("performance", None, "slo_window_labelled", state.labelled)
    report.stat("performance", None, "slo_window_batches", len(state.batches))
    if options.estimate:
        report.stat("performance", None, "slo_window_estimated", state.estimated_batches)
    if state.state != "unknown":
        report.stat("performance", None, "slo_healthy", float(state.state == "healthy"))
    return state


def current_state(store: TraceStore, record: MonitorRecord) -> SloState:
    """The pipeline's SLO state from its stored runs."""
    from mileage.monitors._registry import performance_history

    return window_state(performance_history(store, record.id), record.config.performance_options())


def describe(stats: dict[str, float | None], metric: str) -> str | None:
    """One line about the SLO state recorded in a report's statistics, or None."""
    if stats.get("slo_window_batches") is None:
        return None
    healthy = stats.get("slo_healthy")
    state = "unknown" if healthy is None else ("healthy" if healthy else "broken")
    value = stats.get("slo_window_metric")
    guessed = int(stats.get("slo_window_estimated") or 0)
    if value is not None and guessed:
        detail = (
            f"{metric} {value:.4g} ESTIMATED while labels are missing: {guessed} of the last "
            f"{int(stats['slo_window_batches'] or 0)} batch(es) at their estimated {metric}"
        )
    elif value is not None:
        detail = (
            f"{metric} {value:.4g} over {int(stats.get('slo_window_labelled') or 0):,} "
            f"labelled rows of the last {int(stats['slo_window_batches'] or 0)} final batch(es)"
        )
    else:
        detail = "not enough labelled rows yet"
    return f"SLO state: {state} ({detail})"


__all__ = ["STATES", "SloState", "apply_slo_state", "current_state", "describe", "window_state"]
