"""Helpers shared by the benchmark scripts: the machine, tables, results files."""

from __future__ import annotations

import json
import os
import platform as pf
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = pf.processor() or pf.machine()
    try:
        with Path("/proc/cpuinfo").open() as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
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


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write ``benchmarks/results/<name>.json``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=1, default=str, allow_nan=True) + "\n")
    return path
