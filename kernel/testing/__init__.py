"""Helpers for testing virtkernel and third-party plugins."""
