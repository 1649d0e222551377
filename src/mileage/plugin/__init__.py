"""MLflow plugin: lineage without logging calls, failed-run summaries, and checks inside
``mlflow.models.evaluate``.

Installed with the package through MLflow's entry points; ``MILEAGE_PLUGIN_ENABLED=0`` turns it
off. Importing this package is cheap (it does not import MLflow): MLflow loads the entry
points themselves. See docs/how-to/plugin.md.
"""

from __future__ import annotations

from mileage.plugin._errors import EvaluationBlockedError

__all__ = ["EvaluationBlockedError"]
