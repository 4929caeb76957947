"""Fixtures shared by the tests of this package."""

from .alert_helpers import hook, smtp  # noqa: F401 - fixtures
