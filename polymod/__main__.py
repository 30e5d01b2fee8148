"""``python -m polymod compare`` is ``polymod compare``."""

import sys

from .cli import main

sys.exit(main())
