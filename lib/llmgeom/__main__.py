"""``python -m llmgeom``: see :mod:`llmgeom.cli`."""

import sys

from llmgeom.cli import main

sys.exit(main())
