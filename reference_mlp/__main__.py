"""``python -m reference_mlp``: the lesson's walkthrough (see :mod:`reference_mlp.walkthrough`)."""

import sys

from .walkthrough import main

if __name__ == "__main__":
    sys.exit(main())
