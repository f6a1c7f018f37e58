"""``python -m winit_bench``: the same as the ``winit-bench`` command."""

import sys

from .cli import main

sys.exit(main())
