"""The model proxy's Lambda package: built by `venv/bin/python -m proxy_package`, checked before deploying.

The package (`build/proxy/proxy.zip`) holds `failover/`, the handler script `run.sh` and the
dependencies pinned in `requirements.lock`, all pure Python, so one package serves arm64 and
x86_64 and runs on this machine as it does in Lambda. `build/proxy/manifest.json` records the
hash of every input the package was built from and of the archive itself; `load()` refuses a
package that is missing, altered or older than its inputs, before the program declares anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = ROOT / "build" / "proxy"
BUILD_COMMAND = "venv/bin/python -m proxy_package"
MANIFEST = "manifest.json"
ARCHIVE = "proxy.zip"
# The Lambda runtime the package is built for; the function is declared with the manifest's copy of it.
RUNTIME = "python3.12"
# The function's handler: the script the Lambda Web Adapter's bootstrap runs (relative to the package root).
HANDLER = "run.sh"


class ProxyPackageError(RuntimeError):
    """The package cannot be deployed as it is; the message names what is wrong and the command that fixes it."""


@dataclass(frozen=True)
class ProxyPackage:
    """A built package that matches the sources it was built from."""

    archive: Path  # the zip to upload as the function's code
    sha256: str  # hex digest of the archive's bytes
    runtime: str  # Lambda runtime identifier, e.g. python3.12
    handler: str  # path of the handler script inside the archive


def input_files(root: Path = ROOT) -> list[Path]:
    """Every file the package is built from: the runtime's modules, the handler, the lock and the build recipe."""
    package_dir = root / "proxy_package"
    recipe = [package_dir / name for name in ("__init__.py", "build.py", "requirements.lock", HANDLER)]
    return sorted((root / "failover").glob("*.py")) + recipe


def input_hashes(root: Path = ROOT) -> dict[str, str]:
    """Relative path -> sha256 hex digest of each input file."""
    return {path.relative_to(root).as_posix(): sha256_of(path) for path in input_files(root)}


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load(build_dir: Path | None = None, root: Path = ROOT) -> ProxyPackage:
    """The built package, after checking it is whole and current.

    Raises `ProxyPackageError` when the manifest or archive is missing, when the archive's
    hash differs from the manifest's, or when any input changed, appeared or disappeared
    since the build; the message ends with the build command.
    """
    build_dir = build_dir or BUILD_DIR
    rebuild = f"; build it with: {BUILD_COMMAND}"
    manifest_path = build_dir / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text())
        archive = build_dir / manifest["archive"]
        recorded_inputs: dict[str, str] = manifest["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        raise ProxyPackageError(f"the model proxy's Lambda package is missing or unreadable ({_shown(manifest_path, root)}){rebuild}") from None
    if not archive.is_file() or sha256_of(archive) != manifest.get("sha256"):
        raise ProxyPackageError(f"the model proxy's Lambda package {_shown(archive, root)} is missing or differs from its manifest{rebuild}")
    changes = _changes(recorded_inputs, input_hashes(root))
    if changes:
        raise ProxyPackageError(f"the model proxy's Lambda package {_shown(archive, root)} is stale: {', '.join(changes)} since it was built{rebuild}")
    return ProxyPackage(archive=archive, sha256=manifest["sha256"], runtime=manifest["runtime"], handler=manifest["handler"])


def _changes(built_from: dict[str, str], now: dict[str, str]) -> list[str]:
    changed = [f"{path} changed" for path in sorted(built_from.keys() & now.keys()) if built_from[path] != now[path]]
    added = [f"{path} added" for path in sorted(now.keys() - built_from.keys())]
    removed = [f"{path} removed" for path in sorted(built_from.keys() - now.keys())]
    return changed + added + removed


def _shown(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
