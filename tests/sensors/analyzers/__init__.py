"""Tests of the EVE analyzers."""
