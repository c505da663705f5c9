"""`python -m cli`: the `pacer` command."""

import sys

from cli.main import main

sys.exit(main())
