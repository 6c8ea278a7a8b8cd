"""``python -m minidl``: the ``minidl`` command."""

import sys

from minidl.cli import main

sys.exit(main())
