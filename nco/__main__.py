"""`python -m nco` runs the `nco` command line."""

import sys

from nco.cli import main

sys.exit(main())
