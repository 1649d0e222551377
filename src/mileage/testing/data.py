"""Locating ``../shared/data`` (or ``MILEAGE_SHARED_DATA``)."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]

HOW_TO_GET = (
    "set MILEAGE_SHARED_DATA to the folder holding the reference data, or place it at "
    "../shared/data beside the repository (see 'Reference data' in docs/tutorial.md)"
)


def shared_data_dir() -> Path:
    """``MILEAGE_SHARED_DATA`` if set, else ``<repo>/../shared/data``."""
    env = os.environ.get("MILEAGE_SHARED_DATA")
    return (
        Path(env).expanduser().resolve()
        if env
        else (REPO_ROOT.parent / "shared" / "data").resolve()
    )


def data_required() -> bool:
    """Whether a missing data folder or server must fail (CI) rather than skip."""
    return os.environ.get("MILEAGE_REQUIRE_DATA", "") not in ("", "0", "false", "no")


def require_shared_data(*parts: str) -> Path:
    """Path of ``parts`` under the shared data folder; skip or fail the test when missing."""
    import pytest

    path = shared_data_dir().joinpath(*parts)
    if path.exists():
        return path
    message = f"reference data {str(path)!r} is missing: {HOW_TO_GET}"
    if data_required():
        pytest.fail(
            message + " (MILEAGE_REQUIRE_DATA=1 is set, so this is an error)", pytrace=False
        )
    pytest.skip(message)
