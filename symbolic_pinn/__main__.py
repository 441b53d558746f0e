"""``python -m symbolic_pinn``: the ``symbolic-pinn`` command (:func:`symbolic_pinn.cli.main`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
