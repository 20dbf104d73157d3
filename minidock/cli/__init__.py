"""The `minidock` command line: see minidock.cli.main."""
