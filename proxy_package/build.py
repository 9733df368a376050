"""Builds the model proxy's Lambda package: pinned dependencies, the runtime, the handler, one reproducible zip.

1. pip installs `requirements.lock` into `build/proxy/site` for the Lambda runtime's Python:
   hash-checked (`--require-hashes`, so an unpinned dependency is refused) and universal wheels
   only (`--only-binary=:all: --platform any`), so nothing in it depends on the CPU. The install is
   kept and reused while the lock and the target Python stay the same, so rebuilding after a change
   to `failover/` needs no network.
2. The zip gets `failover/*.py`, `run.sh` (mode 0755: the adapter's bootstrap executes it) and the
   installed packages at its root, where Lambda's `LAMBDA_TASK_ROOT` puts them. Entries are sorted,
   dated 1980-01-01 and stored uncompressed, and what pip writes per machine (console scripts with
   this machine's interpreter path, RECORD, INSTALLER, caches) is left out, so the same inputs give
   the same bytes on any machine and zlib version.
3. `manifest.json` records the archive's hash and the hash of every input (see `proxy_package.load`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from proxy_package import ARCHIVE, BUILD_DIR, HANDLER, MANIFEST, ROOT, RUNTIME, ProxyPackage, input_hashes, load, sha256_of

LOCK = "proxy_package/requirements.lock"
FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can carry
UNIX = 3  # zip "made by" system: Unix, so Lambda reads the entries' permission bits
FILE_MODE, SCRIPT_MODE = 0o100644, 0o100755
# Written by pip for this install only: console scripts name this machine's interpreter.
PER_INSTALL_FILES = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"})
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib")


class BuildError(RuntimeError):
    """The package could not be built; the message says why."""


def build(build_dir: Path | None = None, root: Path = ROOT) -> ProxyPackage:
    """Builds (or rebuilds) the package under `build_dir` and returns it, checked like a deploy would."""
    build_dir = build_dir or BUILD_DIR
    build_dir.mkdir(parents=True, exist_ok=True)
    site = install_dependencies(build_dir / "site", root / LOCK)
    entries = package_entries(root, site)
    archive = build_dir / ARCHIVE
    write_archive(archive, entries)
    manifest = {"archive": ARCHIVE, "sha256": sha256_of(archive), "runtime": RUNTIME, "handler": HANDLER, "inputs": input_hashes(root)}
    _replace(build_dir / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return load(build_dir, root)


def install_dependencies(site: Path, lock: Path) -> Path:
    """The lock's packages installed for the Lambda runtime's Python, reused while lock and Python are unchanged."""
    stamp = {"lock_sha256": sha256_of(lock), "python": _python_version()}
    stamp_file = site / ".installed.json"
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return site
    staging = Path(tempfile.mkdtemp(prefix="site-", dir=site.parent))
    command = [
        sys.executable, "-m", "pip", "install", "--requirement", str(lock), "--require-hashes",
        "--only-binary=:all:", "--platform", "any", "--implementation", "py", "--python-version", stamp["python"],
        "--target", str(staging), "--no-compile", "--disable-pip-version-check", "--quiet",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildError(f"pip could not install {lock.name} for {RUNTIME}:\n{result.stderr.strip()}")
    (staging / stamp_file.name).write_text(json.dumps(stamp))
    shutil.rmtree(site, ignore_errors=True)
    staging.rename(site)
    return site


def package_entries(root: Path, site: Path) -> dict[str, Path]:
    """Archive name -> file: the runtime, the handler and the installed dependencies, nothing machine-specific."""
    entries = {path.relative_to(root).as_posix(): path for path in sorted((root / "failover").glob("*.py"))}
    entries[HANDLER] = root / "proxy_package" / HANDLER
    for path in sorted(site.rglob("*")):
        name = path.relative_to(site).as_posix()
        if not path.is_file() or _per_install(name):
            continue
        if name.endswith(COMPILED_SUFFIXES):
            raise BuildError(f"{name} is compiled for one platform; the package takes pure-Python wheels only, so it runs on arm64 and x86_64")
        if name in entries:
            raise BuildError(f"{name} is shipped by a dependency and by this project; rename one of them")
        entries[name] = path
    return entries


def _per_install(name: str) -> bool:
    parts = name.split("/")
    return (
        parts[0] == "bin"
        or name == ".installed.json"
        or "__pycache__" in parts
        or (len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in PER_INSTALL_FILES)
    )


def write_archive(archive: Path, entries: dict[str, Path]) -> None:
    """A zip whose bytes depend on the entries' names and contents only."""
    with tempfile.NamedTemporaryFile(dir=archive.parent, prefix=".proxy-", suffix=".zip", delete=False) as handle:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as zipped:
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
                info.create_system = UNIX
                info.external_attr = (SCRIPT_MODE if name == HANDLER else FILE_MODE) << 16
                zipped.writestr(info, entries[name].read_bytes())
    os.replace(handle.name, archive)


def _replace(path: Path, data: bytes) -> None:
    # Written aside, then renamed: a reader never sees half a manifest, even with two builds at once.
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}-", delete=False) as handle:
        handle.write(data)
    os.replace(handle.name, path)


def _python_version() -> str:
    return RUNTIME.removeprefix("python")
