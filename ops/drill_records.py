"""Where drill records live, and the latest one of a stack: written by ops.drill, read by the report.

A record is the JSON `python -m ops.drill` writes, one file per drill under drill-records/<stack>/.
Commit the ones you want the topology report to show.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from failover.documents import load_json

RECORDS = Path(__file__).resolve().parent.parent / "drill-records"


def default_path(stack: str, scenario: str, started_at: str) -> Path:
    """drill-records/<stack>/<UTC time, basic ISO 8601>-<scenario>.json; started_at is ISO 8601 with +00:00."""
    stamp = started_at.replace("+00:00", "Z").replace("-", "").replace(":", "")
    return RECORDS / stack / f"{stamp}-{scenario}.json"


RECORD_EXPECTED = "a drill record as `python -m ops.drill` writes it (a JSON object)"


def latest(stack: str, kind: str, records: Path = RECORDS) -> tuple[Path, dict[str, Any]] | None:
    """The most recently started record of that kind of drill (zone, region or database) for the stack, if any.

    Raises UnreadableDocument naming a record file that is not JSON or not an object (failover/documents.py).
    """
    found = []
    for path in sorted((records / stack).glob("*.json")):
        record = load_json(path, str(path), RECORD_EXPECTED, kind=dict)
        if record.get("kind") == kind:
            found.append((record["started_at"], path.name, path, record))
    if not found:
        return None
    _, _, path, record = max(found, key=lambda item: item[:2])
    return path, record
