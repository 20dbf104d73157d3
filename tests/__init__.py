"""minidock's test suite: one folder per topic, plus the harness (tests/harness)."""
