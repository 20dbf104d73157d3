"""Tests of the harness (tests/harness): each failure mode really fails. Rules: spec/harness.md."""
