"""``python -m mileage.cli``: the same as the ``mileage`` command."""

from mileage.cli import main

main()
