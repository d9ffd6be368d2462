"""Fixtures of the asset tests (shared with tests/helpers/assets.py)."""

from tests.helpers.assets import analyzed, service

__all__ = ["analyzed", "service"]
