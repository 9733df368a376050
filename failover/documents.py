"""Reading a document a command is given (a YAML config or stack file, JSON stack outputs or records), and saying
in one line, when it cannot, which file it is, what is wrong and what was expected:

    --outputs dev.json: not JSON (line 1, column 1: Expecting value); expected the output of `pulumi stack output --json`
    --outputs x.json: no such file; expected the output of `pulumi stack output --json`
    --config empty.yaml: the file is empty; expected a mapping of failover settings
    Pulumi.dev.yaml: not YAML (line 22, column 2: expected <block end>, but found '<block mapping start>'); expected ...

Lines and columns count from 1, as editors and PyYAML's own report do. A YAML mapping's keys are unique (YAML 1.2.2,
3.2.1.1 "Nodes"): PyYAML silently keeps the last of two, while go-yaml v3, which the Pulumi CLI reads stack files
with (pulumi/pulumi sdk/go/common/encoding/marshal.go), refuses them as `mapping key "k" already defined at line N`
(go-yaml decode.go, `uniqueKeys` on by default). This reader refuses them too, in go-yaml's words.

It lives in the failover package, which ships alone in the model proxy's Lambda package, so that the gateway's
command and the project's commands say it the same way. PyYAML is imported only to read YAML (the Lambda reads JSON).
"""

from __future__ import annotations

import errno
import functools
import json
from pathlib import Path
from typing import Any

# Why a file could not be opened, in the words a user acts on (no errno numbers).
_OS_PROBLEMS = {errno.ENOENT: "no such file", errno.EISDIR: "a directory, not a file", errno.EACCES: "permission denied"}


class UnreadableDocument(ValueError):
    """A document that cannot be read, or is not what was expected: `<source>: <problem>; expected <expected>`.

    source: the document as the user named it (`--outputs dev.json`, `Pulumi.dev.yaml`, `FAILOVER_CONFIG`);
    problem: what is wrong, in one line; expected: what the command reads instead.
    """

    def __init__(self, source: str, problem: str, expected: str) -> None:
        self.source, self.problem, self.expected = source, " ".join(problem.split()), expected
        super().__init__(f"{source}: {self.problem}; expected {expected}")


def read_text(path: str | Path, source: str, expected: str) -> str:
    """The file's text (UTF-8, a leading byte-order mark dropped as the Pulumi CLI drops it); UnreadableDocument when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as error:
        raise UnreadableDocument(source, _OS_PROBLEMS.get(error.errno or 0, (error.strerror or str(error)).lower()), expected) from None
    except UnicodeDecodeError as error:
        raise UnreadableDocument(source, f"not UTF-8 text (byte {error.start + 1})", expected) from None


def parse_json(text: str, source: str, expected: str, kind: type | None = None) -> Any:
    """`text` as JSON, of type `kind` when given (dict: an object, list: an array); UnreadableDocument saying where it breaks."""
    if not text.strip():
        raise UnreadableDocument(source, "it is empty", expected)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnreadableDocument(source, f"not JSON (line {error.lineno}, column {error.colno}: {error.msg})", expected) from None
    except RecursionError:
        raise UnreadableDocument(source, "not JSON this reader can take (nested too deeply)", expected) from None
    check_kind(document, kind, source, expected, names=_JSON_NAMES)
    return document


def load_json(path: str | Path, source: str, expected: str, kind: type | None = None) -> Any:
    """The JSON document in the file at `path` (parse_json); UnreadableDocument naming `source` when it cannot be."""
    text = read_text(path, source, expected)
    if not text.strip():
        raise UnreadableDocument(source, "the file is empty", expected)
    return parse_json(text, source, expected, kind)


def load_yaml(path: str | Path, source: str, expected: str, kind: type | None = None, allow_empty: bool = False) -> Any:
    """The YAML document in the file at `path`, of type `kind` when given; UnreadableDocument naming `source` when it cannot be.

    A file holding no document (blank, or only comments) is refused as empty, unless `allow_empty`: then it is
    None (a Pulumi stack file may be empty: no settings). A mapping key written twice is refused naming both
    lines; anything else PyYAML refuses, with its line and column.
    """
    import yaml  # here, not at the top: the Lambda package has no PyYAML and reads no YAML

    text = read_text(path, source, expected)
    try:
        document = yaml.load(text, Loader=_unique_key_loader())  # a SafeLoader: plain data only
    except yaml.MarkedYAMLError as error:
        mark, problem = error.problem_mark, error.problem or error.context or "unreadable"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise UnreadableDocument(source, f"not YAML ({where}{problem})", expected) from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow: a position in the text, not a mark
        line = text.count("\n", 0, error.position) + 1
        column = error.position - text.rfind("\n", 0, error.position)
        raise UnreadableDocument(source, f"not YAML (line {line}, column {column}: {error.reason}, #x{error.character:04x})", expected) from None
    if document is None and not _has_content(text):
        if allow_empty:
            return None
        raise UnreadableDocument(source, "the file is empty", expected)
    check_kind(document, kind, source, expected)
    return document


# What a document's top-level value is called in each format, by Python type.
_JSON_NAMES = {dict: "a JSON object", list: "a JSON array", str: "a string", bool: "true or false", int: "a number", float: "a number", type(None): "null"}
_YAML_NAMES = {dict: "a mapping", list: "a list", str: "a string", bool: "true or false", int: "a number", float: "a number", type(None): "null (no value)"}


def check_kind(value: Any, kind: type | None, source: str, expected: str, *, part: str = "it", names: dict[type, str] = _YAML_NAMES) -> None:
    """UnreadableDocument unless `value` (the document, or the `part` of it named) is a `kind`: `<part> holds a list, not a mapping`."""
    if kind is not None and not isinstance(value, kind):
        found = names.get(type(value), type(value).__name__)
        raise UnreadableDocument(source, f"{part} holds {found}, not {names[kind]}", expected)


def _has_content(text: str) -> bool:
    """Whether any line holds more than blanks and a comment (a document marker or an explicit null counts)."""
    return any(line.strip() and not line.lstrip().startswith("#") for line in text.splitlines())


@functools.cache
def _unique_key_loader() -> Any:
    """A yaml.SafeLoader that refuses a mapping key written twice, as go-yaml v3 does, naming it and both lines."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        """SafeLoader, plus: a ConstructorError at the second of two equal scalar keys of one mapping."""

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            first_line: dict[str, int] = {}
            for key, _ in node.value:
                # Keys are compared as written, scalar by scalar, as go-yaml compares them; `<<` merges are not keys.
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                if key.value in first_line:
                    problem = f"mapping key {json.dumps(key.value)} already defined at line {first_line[key.value]}"
                    raise yaml.constructor.ConstructorError(None, None, problem, key.start_mark)
                first_line[key.value] = key.start_mark.line + 1
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader
