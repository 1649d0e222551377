#!/usr/bin/env bash
# Build the wheel, install it into a throwaway venv and use it from there: the console script,
# the store migrations (Alembic's env.py, the versions and script.py.mako) and `mileage init`
# on a fresh SQLite store. Catches what an editable install hides: package data left out of the
# wheel, modules missing from the package list, a broken entry point.
#
# The throwaway venv gets the wheel only (--no-deps); the dependencies come from the project
# venv's site-packages through a .pth line, so nothing is downloaded again. (A .pth line adds a
# folder to sys.path without running the .pth files inside it, so the project venv's editable
# install of mileage stays out of the way.)
#
# Usage: scripts/check-wheel.sh [python of the project venv]   (default: .venv/bin/python)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
python=${1:-$root/.venv/bin/python}
work=$(mktemp -d "${TMPDIR:-/tmp}/mileage-wheel.XXXXXX")
trap 'rm -rf "$work"' EXIT
unset PYTHONPATH  # the installed wheel, never the source tree, must answer

cd "$root"
rm -rf build  # setuptools packs build/lib into the wheel: no stale file may ride along
"$python" -m pip wheel . --no-deps --quiet -w "$work/dist"
rm -rf build
wheel=$(ls "$work"/dist/mileage-*.whl)

"$python" - "$wheel" <<'EOF'
import sys
import zipfile

wheel = sys.argv[1]
names = set(zipfile.ZipFile(wheel).namelist())
need = [
    "mileage/py.typed",
    "mileage/platform/store/migrations/__init__.py",
    "mileage/platform/store/migrations/env.py",
    "mileage/platform/store/migrations/script.py.mako",
]
missing = [n for n in need if n not in names]
versions = [n for n in names if n.startswith("mileage/platform/store/migrations/versions/0")]
if missing or not versions:
    sys.exit(f"{wheel} lacks {missing or 'the migration versions'}")
print(f"wheel: {len(names)} files, {len(versions)} migrations and script.py.mako inside")
EOF

"$python" -m venv "$work/venv"
purelib=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
venv_purelib=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$purelib" > "$venv_purelib/_mileage_dependencies.pth"
"$work/venv/bin/python" -m pip install --quiet --no-deps --no-index "$wheel"

cd "$work"
export MILEAGE_HOME="$work/home"
"$work/venv/bin/python" - "$work/venv" <<'EOF'
import sys
from pathlib import Path

import mileage
import mileage.platform.store.migrations as migrations

venv = Path(sys.argv[1]).resolve()
for module in (mileage, migrations):
    where = Path(module.__file__).resolve()
    if venv not in where.parents:
        sys.exit(f"{module.__name__} was imported from {where}, not from the installed wheel")
here = Path(migrations.__file__).parent
assert (here / "script.py.mako").is_file() and any((here / "versions").glob("0*.py")), here
print(f"imported from the wheel: {Path(mileage.__file__).parent}")
EOF
"$work/venv/bin/mileage" --help > /dev/null
out=$("$work/venv/bin/mileage" --db-url "sqlite:///$work/trace.db" init)
echo "$out"
case "$out" in
  "trace store ready: sqlite:///$work/trace.db ("*) ;;
  *) echo "mileage init from the wheel did not create the store" >&2; exit 1 ;;
esac
"$work/venv/bin/mileage" --db-url "sqlite:///$work/trace.db" status > /dev/null
echo "wheel check passed: $(basename "$wheel")"
