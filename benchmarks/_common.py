"""Helpers shared by the benchmark scripts: the machine, peak memory, tables, results files.

Every script imports them the same way, so it runs both as ``python benchmarks/<name>.py`` and
as ``python -m benchmarks.<name>``::

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

    from benchmarks._common import machine, table, write_results

Every script has a ``--quick`` mode: the same code path on tiny sizes, a smoke test that
``make test`` runs. Its results go to ``benchmarks/results/<name>_quick.json`` (not committed),
so a smoke run never overwrites the measured numbers.
"""

from __future__ import annotations

import json
import os
import platform as pf
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path(__file__).resolve().parent / ".work"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = pf.processor() or pf.machine()
    mem_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": sys.version.split()[0],
        "platform": pf.platform(),
        "load_average_at_start": [round(x, 2) for x in load],
        "note": "cores shared with other jobs while measuring; wall times are noisy",
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def machine_line(info: dict[str, Any]) -> str:
    """One line describing the machine, for printed tables."""
    return (
        f"machine: {info['cpu']}, {info['cores']} cores shared with other jobs (load average "
        f"{info['load_average_at_start'][0]} at start), Python {info['python']}; timings are noisy"
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table (aligned, so it also reads well in a terminal)."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:
            return "-"
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def results_path(name: str, *, quick: bool = False) -> Path:
    """``benchmarks/results/<name>.json``, or ``<name>_quick.json`` for a ``--quick`` run."""
    return RESULTS / f"{name}_quick.json" if quick else RESULTS / f"{name}.json"


def write_results(name: str, payload: dict[str, Any], *, quick: bool = False) -> Path:
    """Write ``benchmarks/results/<name>.json`` (``<name>_quick.json`` when ``quick``)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = results_path(name, quick=quick)
    path.write_text(json.dumps(payload, indent=1, default=str, allow_nan=True) + "\n")
    return path


def rss_bytes() -> int:
    """Resident set size of this process."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakRSS:
    """Samples this process's RSS every 10 ms while active; ``peak`` is the maximum seen."""

    def __init__(self) -> None:
        self.peak = 0
        self.start = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(0.01)

    def __enter__(self) -> PeakRSS:
        self.start = self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())
