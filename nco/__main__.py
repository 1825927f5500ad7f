"""`python -m nco` runs the `nco` command line."""

import sys

from nco.cli.main import main

sys.exit(main())
