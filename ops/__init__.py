"""Operational commands run against a deployed stack (they read its outputs, never its program)."""
