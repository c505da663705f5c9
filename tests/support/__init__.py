"""Helpers shared by the test suite and by .ci/run (real Docker daemons, sample images)."""
