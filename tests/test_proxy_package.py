"""The model proxy's Lambda package: reproducible, pure Python, and refused when it is older than its sources."""

from __future__ import annotations

import json
import shutil
import zipfile

import pytest

import proxy_package
from proxy_package.build import BuildError, build, package_entries


@pytest.fixture(scope="module")
def package() -> proxy_package.ProxyPackage:
    return proxy_package.load()


def test_the_same_sources_build_the_same_bytes(package, tmp_path):
    # A second build elsewhere (reusing the installed dependencies, so no network) gives the same archive.
    shutil.copytree(package.archive.parent / "site", tmp_path / "site", symlinks=True)
    again = build(tmp_path)
    assert again.sha256 == package.sha256 and again.archive.read_bytes() == package.archive.read_bytes()


def test_the_archive_is_deterministic_and_ships_no_machine_specific_file(package):
    with zipfile.ZipFile(package.archive) as archive:
        entries = archive.infolist()
    names = [entry.filename for entry in entries]
    assert names == sorted(names)
    assert {(entry.date_time, entry.compress_type, entry.create_system) for entry in entries} == {((1980, 1, 1, 0, 0, 0), zipfile.ZIP_STORED, 3)}
    assert {entry.filename for entry in entries if entry.external_attr >> 16 != 0o100644} == {"run.sh"}
    assert {"run.sh", "failover/lambda_app.py", "failover/gateway.py", "uvicorn/main.py", "starlette/applications.py", "httpx/_client.py"} <= set(names)
    assert not [name for name in names if name.startswith("bin/") or "__pycache__" in name or name.endswith(("/RECORD", ".so", ".pyc"))]
    assert not [name for name in names if name.startswith(("yaml/", "pulumi", "uvloop/", "httptools/"))]


def test_a_compiled_dependency_is_refused(tmp_path):
    (tmp_path / "fastlib").mkdir()
    (tmp_path / "fastlib" / "_speedups.cpython-312-aarch64-linux-gnu.so").write_bytes(b"\x7fELF")
    with pytest.raises(BuildError, match="fastlib/_speedups.cpython-312-aarch64-linux-gnu.so is compiled for one platform"):
        package_entries(proxy_package.ROOT, tmp_path)


def test_load_names_each_source_that_changed_since_the_build(package, tmp_path):
    shutil.copy(package.archive, tmp_path / "proxy.zip")
    manifest = json.loads((package.archive.parent / "manifest.json").read_text())
    manifest["inputs"]["failover/router.py"] = "0" * 64
    manifest["inputs"]["failover/retired.py"] = "0" * 64
    del manifest["inputs"]["failover/sse.py"]
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(proxy_package.ProxyPackageError) as stale:
        proxy_package.load(tmp_path)
    assert "is stale: failover/router.py changed, failover/sse.py added, failover/retired.py removed since it was built" in str(stale.value)
