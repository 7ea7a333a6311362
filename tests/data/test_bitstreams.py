"""``bnntool fetch bnn-pynq-bitstreams``: the real files (../shared/fixtures/upstream/bitstreams)
through the real download code, served by a loopback HTTP server at upstream's URL paths, and
from mirror folders; a corrupt or truncated file is refused and nothing is left."""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from dataclasses import replace
from pathlib import Path

import pytest

from bnntool.data import bitstreams
from bnntool.data.catalog import get_file_set
from tests.data.fakes import FAST


@pytest.fixture(scope="module")
def real_files(upstream: Path) -> dict[str, Path]:
    """Every file of the catalog, as the fixtures hold it (upstream's files at the commit)."""
    return {p.name: p for p in sorted((upstream / "bitstreams").glob("*/*"))}


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_catalog_matches_the_real_files(real_files: dict[str, Path]) -> None:
    catalog = bitstreams.STOCK_BITSTREAMS.files
    names = [f.name for f in catalog]
    # Five overlays: .bit/.hwh/.tcl for pynqZ1-Z2; .hwh/.tcl for ultra96 (its .bit not covered).
    assert len(names) == 25 == len(set(names))
    assert sorted(names) == sorted(real_files)
    for f in catalog:
        data = real_files[f.name].read_bytes()
        assert (len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest()) == (
            f.size, f.md5, f.sha256,
        ), f.name  # fmt: skip
        platform = real_files[f.name].parent.name
        assert f.url == (
            "https://raw.githubusercontent.com/Xilinx/BNN-PYNQ/"
            f"d39c1c75403db571f54dd0f0cf27ae5104ac968e/bnn/bitstreams/{platform}/{f.name}"
        )
    assert bitstreams.runnable("pynqZ1-Z2") and not bitstreams.runnable("ultra96")
    assert set(bitstreams.NOT_COVERED) == {f"{o}-ultra96.bit" for o in bitstreams.OVERLAYS}
    assert get_file_set("BNN-PYNQ-Bitstreams") is bitstreams.STOCK_BITSTREAMS


@pytest.fixture
def upstream_server(http_server, real_files, monkeypatch: pytest.MonkeyPatch):
    """The loopback server answers upstream's URL paths with the real files; the catalog's URLs
    point at it (same paths, same checksums)."""
    files = []
    for f in bitstreams.STOCK_BITSTREAMS.files:
        path = urllib.parse.urlsplit(f.url).path
        files.append(replace(f, url=http_server.serve(path, real_files[f.name].read_bytes())))
    local = replace(bitstreams.STOCK_BITSTREAMS, files=tuple(files))
    monkeypatch.setattr(bitstreams, "STOCK_BITSTREAMS", local)
    return http_server


def test_fetch_from_upstream_urls(upstream_server, run_cli, tmp_path: Path, real_files) -> None:
    r = run_cli("fetch", "bnn-pynq-bitstreams", "--data-dir", tmp_path / "D", "--json")
    assert r.exit_code == 0, r.stderr
    report = json.loads(r.stdout)[0]
    assert report["dataset"] == "bnn-pynq-bitstreams" and len(report["files"]) == 25
    assert {f["verified_by"] for f in report["files"]} == {"official"}
    got = tmp_path / "D" / "bnn-pynq-bitstreams"
    for name, source in real_files.items():
        assert (got / name).read_bytes() == source.read_bytes()
    assert _listing(tmp_path / "D") == [
        "bnn-pynq-bitstreams",
        "bnn-pynq-bitstreams/.bnntool-verified.json",  # what fetch verified, for later checks
    ] + [f"bnn-pynq-bitstreams/{n}" for n in sorted(real_files)]
    requested = {p for p, _ in upstream_server.requests}
    assert "/Xilinx/BNN-PYNQ/d39c1c75403db571f54dd0f0cf27ae5104ac968e/bnn/bitstreams/pynqZ1-Z2/" \
        "lfcW1A1-pynqZ1-Z2.bit" in requested  # fmt: skip
    upstream_server.requests.clear()  # a second fetch finds them verified and sends nothing
    again = run_cli("fetch", "bnn-pynq-bitstreams", "--data-dir", tmp_path / "D")
    assert again.exit_code == 0 and "all already there" in again.stdout
    assert upstream_server.requests == []


def test_truncated_download_is_refused_and_nothing_left(
    upstream_server, tmp_path: Path, real_files
) -> None:
    """A server that sends a whole response of a shortened .bit: the checksum refuses it."""
    from bnntool.data import fetch
    from bnntool.errors import ChecksumError

    name = "cnvW2A2-pynqZ1-Z2.bit"
    entry = next(f for f in bitstreams.STOCK_BITSTREAMS.files if f.name == name)
    upstream_server.serve(
        urllib.parse.urlsplit(entry.url).path, real_files[name].read_bytes()[:-4096]
    )
    with pytest.raises(ChecksumError, match=f"checksum mismatch for bnn-pynq-bitstreams/{name}"):
        fetch("bnn-pynq-bitstreams", tmp_path / "D", policy=FAST)
    assert _listing(tmp_path / "D") == []


def _mirror(root: Path, real_files: dict[str, Path]) -> Path:
    folder = root / "bnn-pynq-bitstreams"
    folder.mkdir(parents=True)
    for name, source in real_files.items():
        (folder / name).write_bytes(source.read_bytes())
    return root


def test_mirror_folder_and_a_corrupt_file(run_cli, tmp_path: Path, real_files) -> None:
    mirror = _mirror(tmp_path / "mirror", real_files)
    bad = mirror / "bnn-pynq-bitstreams" / "lfcW1A2-pynqZ1-Z2.hwh"
    good = bad.read_bytes()
    bad.write_bytes(good.replace(b"BlackBoxJam", b"BlackBoxJim", 1))  # same size, other bytes
    r = run_cli("fetch", "bnn-pynq-bitstreams", "--mirror", mirror, "--data-dir", tmp_path / "D")
    assert r.exit_code == 2 and "Traceback" not in r.stderr
    assert r.stderr.startswith("bnntool: error: checksum mismatch for bnn-pynq-bitstreams/")
    assert "lfcW1A2-pynqZ1-Z2.hwh from mirror" in r.stderr
    assert _listing(tmp_path / "D") == []  # nothing half-fetched is left
    bad.write_bytes(good)
    r = run_cli("fetch", "bnn-pynq-bitstreams", "--mirror", mirror, "--data-dir", tmp_path / "D")
    assert r.exit_code == 0, r.stderr
    assert "bnn-pynq-bitstreams: 25 files verified" in r.stdout
    assert f"from {mirror}" in r.stdout


def test_url_mirror(http_server, run_cli, tmp_path: Path, real_files) -> None:
    for name, source in real_files.items():
        http_server.serve(f"/m/bnn-pynq-bitstreams/{name}", source.read_bytes())
    r = run_cli(
        "fetch", "bnn-pynq-bitstreams", "--mirror", f"{http_server.url}/m", "--data-dir",
        tmp_path / "D", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    sources = {f["source"] for f in json.loads(r.stdout)[0]["files"]}
    assert sources == {f"{http_server.url}/m/bnn-pynq-bitstreams/{n}" for n in real_files}
