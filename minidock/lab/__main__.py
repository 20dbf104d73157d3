"""`python -m minidock.lab`: the lab verbs without the main CLI."""

import sys

from minidock.lab.cli import main

sys.exit(main())
