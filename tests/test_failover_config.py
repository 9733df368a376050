import copy
import json
import logging
import re

import pytest

from failover.config import ConfigError, config_warnings, parse_config
from failover.lambda_app import lambda_app

VALID = {
    "topology": "active-passive",
    "upstreams": [
        {"name": "primary", "url": "http://127.0.0.1:9001", "priority": 0, "region": "eu-west-1"},
        {"name": "azure", "url": "https://gw.example.net/openai/", "priority": 1, "weight": 5, "headers_from_env": {"api-key": "AZURE_OPENAI_KEY"}},
    ],
    "timeouts": {"connect": 1, "first_byte": 5, "total": 20, "stream_idle": 3},
    "breaker": {"failure_threshold": 2, "base_ejection": 1, "max_ejection": 10, "jitter": 0.1},
    "rate_limit": {"default_cooldown": 2, "max_cooldown": 30},
    "max_retries": 2,
    "fallback": {"status": 200, "body": {"choices": []}},
}


def test_valid_config_is_parsed_into_frozen_settings():
    config = parse_config(VALID)
    assert config.topology == "active-passive"
    assert [u.name for u in config.upstreams] == ["primary", "azure"]
    assert config.upstreams[1].url == "https://gw.example.net/openai"
    assert config.upstreams[1].headers_from_env == (("api-key", "AZURE_OPENAI_KEY"),)
    assert config.timeouts.first_byte == 5.0 and config.breaker.failure_threshold == 2
    assert config.fallback is not None and config.fallback.body == '{"choices": []}'
    with pytest.raises(AttributeError):
        config.topology = "active-active"  # type: ignore[misc]


def test_defaults_apply_when_sections_are_absent():
    config = parse_config({"topology": "active-active", "upstreams": [{"name": "a", "url": "http://a"}]})
    assert config.upstreams[0].weight == 1 and config.upstreams[0].priority == 0
    assert config.max_retries == 1 and config.fallback is None


def _with(path: str, value):
    doc = copy.deepcopy(VALID)
    target = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if isinstance(target, list) else target[key]
    last = keys[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "named_key", "allowed"),
    [
        ("topology", "round-robin", "topology", "active-active or active-passive"),
        ("upstreams", [], "upstreams", "non-empty list"),
        ("upstreams.1.name", "primary", "upstreams[1].name", "not used by another"),
        ("upstreams.1.url", "ftp://gw.example.net", "upstreams[1].url", "http:// or https://"),
        ("upstreams.0.url", "127.0.0.1:9001", "upstreams[0].url", "http:// or https://"),
        ("upstreams.1.url", "https://gw.example.net/openai?api-version=1", "upstreams[1].url", "no query"),
        ("upstreams.1.weight", 0, "upstreams[1].weight", "from 1 to 1000"),
        ("upstreams.1.weight", 1001, "upstreams[1].weight", "from 1 to 1000"),
        ("upstreams.0.priority", -1, "upstreams[0].priority", ">= 0"),
        ("upstreams.1.headers_from_env", {"api-key": "sk-secret value"}, "upstreams[1].headers_from_env.api-key", "environment variable"),
        ("timeouts.total", 0, "timeouts.total", "> 0"),
        ("timeouts.connect", -1, "timeouts.connect", "> 0"),
        ("timeouts.first_byte", 30, "timeouts.first_byte", "at most timeouts.total"),
        ("breaker.failure_threshold", 0, "breaker.failure_threshold", ">= 1"),
        ("breaker.max_ejection", 0.5, "breaker.max_ejection", "at least breaker.base_ejection"),
        ("breaker.jitter", 1.5, "breaker.jitter", "from 0"),
        ("rate_limit.default_cooldown", 60, "rate_limit.default_cooldown", "at most rate_limit.max_cooldown"),
        ("max_retries", -1, "max_retries", "from 0 to 10"),
        ("max_response_bytes", 512, "max_response_bytes", "from 1024 to 1073741824"),
        ("max_event_bytes", 2**29, "max_event_bytes", "from 1024 to 268435456"),
        ("max_event_bytes", "16MB", "max_event_bytes", "an integer"),
        ("fallback", {"status": 200, "body": 42}, "fallback.body", "string or a JSON object"),
        ("timeouts.frist_byte", 1, "timeouts.frist_byte", "one of the keys"),
    ],
)
def test_bad_config_is_refused_naming_key_value_and_what_is_allowed(path, value, named_key, allowed):
    with pytest.raises(ConfigError) as refused:
        parse_config(_with(path, value))
    message = str(refused.value)
    assert message.startswith(f"{named_key}: ")
    if not isinstance(value, (dict, list)):
        assert repr(value) in message
    assert allowed in message
    assert refused.value.key == named_key


def test_a_secret_put_where_an_env_var_name_belongs_is_not_echoed():
    with pytest.raises(ConfigError) as refused:
        parse_config(_with("upstreams.1.headers_from_env", {"api-key": "sk-live-123"}))
    assert "sk-live-123" not in str(refused.value)


def test_config_that_is_not_a_mapping_is_refused():
    with pytest.raises(ConfigError, match="config: .*a mapping"):
        parse_config(["not", "a", "mapping"])


@pytest.mark.parametrize(
    ("path", "value", "suggestion"),
    [
        ("timeouts.frist_byte", 1, "did you mean 'first_byte'?"),
        ("breaker.failure_treshold", 2, "did you mean 'failure_threshold'?"),
        ("upstreams.0.header_from_env", {}, "did you mean 'headers_from_env'?"),
        ("max_retry", 2, "did you mean 'max_retries'?"),
    ],
)
def test_unknown_key_is_refused_with_the_closest_allowed_key(path, value, suggestion):
    with pytest.raises(ConfigError, match=re.escape(suggestion)):
        parse_config(_with(path, value))


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:0", "http://127.0.0.1:port"])
def test_url_with_a_port_no_socket_can_have_is_refused(url):
    with pytest.raises(ConfigError, match=r"upstreams\[0\]\.url: .*a port from 1 to 65535"):
        parse_config(_with("upstreams.0.url", url))


def _upstreams(*entries: dict) -> dict:
    return {"topology": "active-passive", "upstreams": [{"name": f"u{index}", **entry} for index, entry in enumerate(entries)]}


@pytest.mark.parametrize(
    ("entries", "environ", "expected"),
    [
        ([{"url": "https://gw.example.net/openai/v1"}], {}, ["upstreams[0] (u0).url 'https://gw.example.net/openai/v1' ends in /v1"]),
        ([{"url": "http://127.0.0.1:9001/v1/"}], {}, ["upstreams[0] (u0).url 'http://127.0.0.1:9001/v1' ends in /v1, but /v1/chat/completions is appended: "
                                                      "requests would go to http://127.0.0.1:9001/v1/v1/chat/completions"]),
        ([{"url": "http://127.0.0.1:9001"}, {"url": "http://127.0.0.1:9001/"}], {}, ["upstreams[1] (u1).url 'http://127.0.0.1:9001' is also upstreams[0] (u0)"]),
        ([{"url": "https://GW.example.net/openai"}, {"url": "https://gw.example.net:443/openai"}], {}, ["upstreams[1] (u1).url 'https://gw.example.net:443/openai' is also upstreams[0] (u0)"]),
        ([{"url": "https://gw.example.net", "headers_from_env": {"api-key": "AZURE_KEY"}}], {}, ["upstreams[0] (u0).headers_from_env.api-key: environment variable AZURE_KEY is unset or empty"]),
        ([{"url": "https://gw.example.net", "headers_from_env": {"api-key": "AZURE_KEY"}}], {"AZURE_KEY": ""}, ["upstreams[0] (u0).headers_from_env.api-key"]),
        ([{"url": "http://gw.example.net/openai", "headers_from_env": {"api-key": "AZURE_KEY"}}], {"AZURE_KEY": "k"},
         ["upstreams[0] (u0).url 'http://gw.example.net/openai' is plain http:// but carries api-key from headers_from_env: use https://"]),
        # Not mistakes: other ports, other paths, a set variable, /v1 in the middle of a path, plain http to this
        # machine or without a credential of the router's.
        ([{"url": "http://127.0.0.1:9001", "headers_from_env": {"api-key": "K"}}, {"url": "http://10.0.1.5"}], {"K": "k"}, []),
        ([{"url": "http://127.0.0.1:9001"}, {"url": "http://127.0.0.1:9002"}, {"url": "http://127.0.0.1:9001/other"}], {}, []),
        ([{"url": "https://gw.example.net/v1beta", "headers_from_env": {"api-key": "AZURE_KEY"}}], {"AZURE_KEY": "k"}, []),
        ([{"url": "https://gw.example.net/v1/openai"}], {}, []),
    ],
)
def test_what_is_allowed_but_probably_a_mistake_is_one_warning_naming_upstream_and_field(entries, environ, expected):
    warnings = config_warnings(parse_config(_upstreams(*entries)), environ)
    assert len(warnings) == len(expected)
    for warning, start in zip(warnings, expected):
        assert warning.startswith(start) and "\n" not in warning


def test_warnings_are_logged_as_the_lambda_starts(caplog):
    document = _upstreams({"url": "https://gw.example.net/v1"}, {"url": "https://fd.example.net/openai", "headers_from_env": {"api-key": "AZURE_GATEWAY_KEY"}})
    with caplog.at_level(logging.WARNING):
        lambda_app({"FAILOVER_CONFIG": json.dumps(document), "AWS_REGION": "us-east-1"})
    lines = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert [line.split(": ", 1)[1].split(" ", 1)[0] for line in lines] == ["upstreams[0]", "upstreams[1]"]
    assert "AZURE_GATEWAY_KEY is unset" in lines[1]


FLOAT_FIELDS = [*(f"timeouts.{key}" for key in ("connect", "first_byte", "total", "stream_idle", "min_attempt")),
                "breaker.base_ejection", "breaker.max_ejection", "breaker.jitter", "rate_limit.default_cooldown", "rate_limit.max_cooldown"]


@pytest.mark.parametrize("path", FLOAT_FIELDS)
@pytest.mark.parametrize("value", [float("nan"), float("inf")], ids=["nan", "inf"])
def test_every_number_must_be_finite(path, value):
    with pytest.raises(ConfigError) as refused:
        parse_config(_with(path, value))
    assert str(refused.value).startswith(f"{path}: {value!r} is not allowed")


def test_nan_and_infinity_are_refused_from_yaml_and_from_the_lambdas_json_too(tmp_path):
    from failover.__main__ import load_config
    from failover.lambda_app import config_from_environment

    path = tmp_path / "gateway.yaml"
    path.write_text("topology: active-passive\nupstreams: [{name: a, url: 'http://127.0.0.1:1'}]\ntimeouts: {total: .inf}\n")
    with pytest.raises(ConfigError, match=r"^timeouts\.total: inf is not allowed; expected a finite number"):
        load_config(str(path))
    # Python's json reads NaN and Infinity, which JSON itself does not have.
    environ = {"FAILOVER_CONFIG": '{"topology": "active-passive", "upstreams": [{"name": "a", "url": "http://a"}], "breaker": {"jitter": NaN}}'}
    with pytest.raises(ConfigError, match=r"^breaker\.jitter: nan is not allowed"):
        config_from_environment(environ)


@pytest.mark.parametrize(
    "text, where",
    [
        ("topology: active-passive\nupstreams:\n- name: a\n  url: [\n", "line 5, column 1: expected the node content, but found '<stream end>'"),
        ("topology: active-passive\nupstreams:\n  - name: a\n url: x\n", "line 4, column 2: expected <block end>, but found '<block mapping start>'"),
        ("topology: active-passive\n\tupstreams: []\n", "line 2, column 1: found character '\\t' that cannot start any token"),
    ],
)
def test_a_yaml_syntax_error_is_one_line_saying_where(tmp_path, text, where):
    from failover.__main__ import load_config

    path = tmp_path / "gateway.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(str(path))
    assert str(refused.value) == f"--config {path}: not YAML ({where}); expected a mapping of failover settings"


@pytest.mark.parametrize(
    "text, problem",
    [
        (None, "no such file"),
        ("", "the file is empty"),
        ("# topology: active-passive\n\n", "the file is empty"),
        ("~\n", "it holds null (no value), not a mapping"),
        ("- topology: active-passive\n", "it holds a list, not a mapping"),
        ("topology: active-passive\ntopology: active-active\n", 'not YAML (line 2, column 1: mapping key "topology" already defined at line 1)'),
        (
            "topology: active-passive\nupstreams:\n  - {name: a, url: 'http://127.0.0.1:1', weight: 2, weight: 3}\n",
            'not YAML (line 3, column 53: mapping key "weight" already defined at line 3)',
        ),
    ],
    ids=["missing", "empty", "only-comments", "null", "list", "key-twice", "nested-key-twice"],
)
def test_a_config_file_that_holds_no_settings_is_one_line_naming_it(tmp_path, text, problem):
    from failover.__main__ import load_config

    path = tmp_path / "gateway.yaml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError) as refused:
        load_config(str(path))
    assert str(refused.value) == f"--config {path}: {problem}; expected a mapping of failover settings"


def test_serve_refuses_an_empty_config_in_one_line(tmp_path, capsys):
    from failover.__main__ import main

    (tmp_path / "empty.yaml").write_text("")
    assert main(["serve", "--config", str(tmp_path / "empty.yaml"), "--port", "0"]) == 2
    assert capsys.readouterr().err == f"failover: refusing to start: --config {tmp_path / 'empty.yaml'}: the file is empty; expected a mapping of failover settings\n"
