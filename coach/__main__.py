"""`python -m coach`: see `coach.cli`."""

import sys

from coach.cli import main

if __name__ == "__main__":  # guarded: pose workers are spawned processes
    sys.exit(main())
