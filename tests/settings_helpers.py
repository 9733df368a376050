"""Settings from raw values, as pulumi.Config.get hands them over (strings, arrays as JSON), for any test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.settings import PROJECT, Settings, SettingsError, parse_settings


def raw_config(**overrides: Any):
    """A config getter as pulumi.Config.get behaves: strings, arrays as JSON, None when unset."""
    values = {key: value if isinstance(value, str) else json.dumps(value) for key, value in overrides.items()}
    return values.get


def parse(**overrides: Any) -> Settings:
    """Settings from overrides by key without namespace, which (like a stack file's keys) must all be declared."""
    return parse_settings(raw_config(**overrides), stack="test", keys=[f"{PROJECT}:{key}" for key in overrides])


def rejected(key: str, **overrides: Any) -> SettingsError:
    """The error a bad setting raises, after checking it names `key`."""
    with pytest.raises(SettingsError) as caught:
        parse(**overrides)
    message = str(caught.value)
    assert f"{PROJECT}:{key}" in message, message
    return caught.value
