"""MLflow plugin: lineage without logging calls, failed-run summaries, and checks inside
``mlflow.models.evaluate``.

Installed with the package through MLflow's entry points; ``MILEAGE_PLUGIN_ENABLED=0`` turns it
off. Importing this package is cheap: MLflow loads the entry points themselves.
"""

from __future__ import annotations

__all__: list[str] = []
