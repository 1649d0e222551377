"""Virtual environments for tests that install packages from the registries (other MLflow
versions, the package without extras), made once and cached.

Each environment lives under a cache folder (``MILEAGE_TEST_CACHE``, default
``~/.cache/mileage-tests``, outside the checkout so that fresh clones on the same machine reuse
it) in a sub-folder whose name the caller derives from what it installs: a different
requirement list gets a different folder. Installs go through ``uv`` when it is there (the
``dev`` extra brings it; seconds instead of minutes), else through ``pip``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def cache_root() -> Path:
    """``MILEAGE_TEST_CACHE``, else ``~/.cache/mileage-tests``."""
    env = os.environ.get("MILEAGE_TEST_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mileage-tests"


def uv_binary() -> str | None:
    """The ``uv`` executable: the one the ``uv`` package installed, else one on the PATH."""
    try:
        from uv import find_uv_bin  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return shutil.which("uv")
    try:
        return str(find_uv_bin())
    except FileNotFoundError:
        return shutil.which("uv")


def _run(command: list[str], what: str, timeout: float) -> None:
    # uv trusts its own certificate bundle unless told otherwise; pip (and a proxy that
    # re-signs TLS) use the platform's store, so uv is pointed at it too
    env = {**os.environ, "UV_SYSTEM_CERTS": os.environ.get("UV_SYSTEM_CERTS", "1")}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(command[:4])} ...): {result.stderr[-3000:]}")


def install(venv: Path, *requirements: str, reinstall: str | None = None) -> None:
    """``pip install requirements`` into ``venv`` (with uv when available).

    Args:
        venv: The environment's folder.
        requirements: Requirement specifiers or paths.
        reinstall: A package (named in ``requirements``, e.g. by its source folder) to
            rebuild and reinstall without its dependencies, even if the same version is
            installed: the code of a checkout under test.
    """
    python = venv / "bin" / "python"
    uv = uv_binary()
    if uv:
        command = [uv, "pip", "install", "--quiet", "--python", str(python)]
        if reinstall:
            command += ["--no-deps", "--reinstall-package", reinstall]
    else:
        command = [str(python), "-m", "pip", "install", "--quiet"]
        if reinstall:
            command += ["--no-deps", "--force-reinstall"]
    _run(command + list(requirements), f"installing {' '.join(requirements)} into {venv}", 1800)


def cached_venv(name: str, *requirements: str, python: str = sys.executable) -> Path:
    """A virtual environment at ``cache_root()/name`` with ``requirements`` installed.

    Made once: later calls return the folder as it is. A half-made environment (an
    interrupted run) is never returned: it is built under ``<name>.tmp`` and renamed when
    complete.

    Args:
        name: Sub-folder of the cache; must change when ``requirements`` do.
        requirements: Requirement specifiers or paths, as ``pip install`` takes them.
        python: The interpreter the environment is made from.

    Returns:
        The environment's folder (its interpreter is ``<folder>/bin/python``).
    """
    folder = cache_root() / name
    if (folder / "bin" / "python").exists():
        return folder
    building = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(building, ignore_errors=True)
    building.parent.mkdir(parents=True, exist_ok=True)
    uv = uv_binary()
    if uv:
        command = [uv, "venv", "--quiet", "--seed", "--python", python, str(building)]
    else:
        command = [python, "-m", "venv", str(building)]
    _run(command, f"creating the environment {building}", 300)
    if requirements:
        install(building, *requirements)
    # A venv records its own path in bin/ scripts; the interpreter (used here) does not care.
    building.rename(folder)
    return folder


__all__ = ["cache_root", "cached_venv", "install", "uv_binary"]
