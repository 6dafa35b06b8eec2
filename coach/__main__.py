"""`python -m coach`: see `coach.cli`."""

import sys

from coach.cli import main

sys.exit(main())
