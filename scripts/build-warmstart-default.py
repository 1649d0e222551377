"""Rebuild the embedded default warm-start model from TabRepo's LightGBM folder.

    python scripts/build-warmstart-default.py [--data DIR] [--check]

Same as ``mileage warmstart build-default``; ``--data`` defaults to the shared reference data
(``MILEAGE_SHARED_DATA`` or ``../shared/data``)/tabrepo-lightgbm.
"""

from __future__ import annotations

import sys

from mileage.cli import app
from mileage.testing import shared_data_dir

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--data" not in args:
        args = ["--data", str(shared_data_dir() / "tabrepo-lightgbm"), *args]
    app(["warmstart", "build-default", *args])
