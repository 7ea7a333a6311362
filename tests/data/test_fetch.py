"""fetch and the fetch/datasets commands on generated datasets served over real HTTP."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import socket
from pathlib import Path

import numpy as np
import pytest

from bnntool.data import catalog, fetch
from bnntool.data.download import TransferFailed
from bnntool.errors import ChecksumError, DownloadError, UserError
from tests.data.fakes import FAST, gz, idx_images, idx_labels, tiny_dataset

IMAGES = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
LABELS = np.array([0, 1, 1], dtype=np.uint8)
FILES = {
    "train-images.gz": gz(idx_images(IMAGES)),
    "train-labels.gz": gz(idx_labels(LABELS)),
}


@pytest.fixture
def tiny(http_server, monkeypatch: pytest.MonkeyPatch):
    """Register a generated dataset 'tiny' whose official URL is the loopback server."""
    for name, body in FILES.items():
        http_server.serve(f"/official/{name}", body)
    info = tiny_dataset("tiny", FILES, f"{http_server.url}/official")
    monkeypatch.setitem(catalog.DATASETS, "tiny", info)
    return info


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_fetch_from_official_url(tiny, http_server, tmp_path: Path) -> None:
    result = fetch("tiny", tmp_path / "D", policy=FAST)
    assert [f.name for f in result.files] == list(FILES)
    for f in result.files:
        assert f.path.read_bytes() == FILES[f.name]
        assert f.verified_by == "official"
    assert _listing(tmp_path / "D") == [
        "tiny",
        "tiny/.bnntool-verified.json",
        "tiny/train-images.gz",
        "tiny/train-labels.gz",
    ]


def test_second_fetch_uses_the_cache(tiny, http_server, tmp_path: Path) -> None:
    fetch("tiny", tmp_path, policy=FAST)
    http_server.requests.clear()
    result = fetch("tiny", tmp_path, policy=FAST)
    assert {f.source for f in result.files} == {"cache"}
    assert http_server.requests == []


def test_corrupt_cached_file_is_fetched_again(tiny, http_server, tmp_path: Path) -> None:
    fetch("tiny", tmp_path, policy=FAST)
    (tmp_path / "tiny" / "train-labels.gz").write_bytes(b"garbage")
    result = fetch("tiny", tmp_path, policy=FAST)
    assert (tmp_path / "tiny" / "train-labels.gz").read_bytes() == FILES["train-labels.gz"]
    assert [f.source for f in result.files] == [
        "cache",
        f"{http_server.url}/official/train-labels.gz",
    ]


def test_url_mirror(tiny, http_server, tmp_path: Path, run_cli) -> None:
    for name, body in FILES.items():
        http_server.serve(f"/mirror/tiny/{name}", body)
    result = run_cli(
        "fetch", "tiny", "--mirror", f"{http_server.url}/mirror", "--data-dir", tmp_path, "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report[0]["dataset"] == "tiny"
    assert [f["source"] for f in report[0]["files"]] == [
        f"{http_server.url}/mirror/tiny/{n}" for n in FILES
    ]
    assert all(p.startswith("/official") is False for p, _ in http_server.requests)


def test_checksum_mismatch_keeps_nothing(tiny, http_server, tmp_path: Path, run_cli) -> None:
    http_server.serve("/mirror/tiny/train-images.gz", FILES["train-images.gz"])
    http_server.serve("/mirror/tiny/train-labels.gz", b"not the labels")
    data_dir = tmp_path / "D"
    result = run_cli(
        "fetch", "tiny", "--mirror", f"{http_server.url}/mirror", "--data-dir", data_dir
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "checksum mismatch" in lines[0]
    assert "tiny/train-labels.gz" in lines[0]
    assert f"{http_server.url}/mirror" in lines[0]
    assert "Traceback" not in result.stderr
    assert not data_dir.exists()


def test_checksum_mismatch_leaves_an_existing_data_dir_as_it_was(
    tiny, http_server, tmp_path: Path
) -> None:
    http_server.files["/official/train-labels.gz"].body = b"tampered"
    (tmp_path / "other").mkdir()
    with pytest.raises(ChecksumError, match="official URL"):
        fetch("tiny", tmp_path, policy=FAST)
    assert _listing(tmp_path) == ["other"]


def test_interrupted_fetch_resumes_next_time(tiny, http_server, tmp_path: Path) -> None:
    body = FILES["train-images.gz"]
    served = http_server.files["/official/train-images.gz"]
    served.cut_after, served.cut_times = 20, 1  # the network fails, and so does the only attempt
    with pytest.raises(TransferFailed):
        fetch("tiny", tmp_path, policy=dataclasses.replace(FAST, attempts=1))
    staged = tmp_path / ".bnntool-staging" / "tiny" / "train-images.gz"
    assert staged.read_bytes() == body[:20]  # kept for the resume, under a staging name
    assert not (tmp_path / "tiny").exists()

    # the network is back
    http_server.requests.clear()
    fetch("tiny", tmp_path, policy=FAST)
    assert ("/official/train-images.gz", "bytes=20-") in http_server.requests
    assert (tmp_path / "tiny" / "train-images.gz").read_bytes() == body
    assert _listing(tmp_path) == [
        "tiny",
        "tiny/.bnntool-verified.json",
        "tiny/train-images.gz",
        "tiny/train-labels.gz",
    ]


def test_offline_without_mirror_names_the_mirror_option(
    tiny, monkeypatch, tmp_path: Path, run_cli
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = tiny_dataset("tiny", FILES, f"http://127.0.0.1:{port}")
    monkeypatch.setitem(catalog.DATASETS, "tiny", dead)
    result = run_cli("fetch", "tiny", "--data-dir", tmp_path / "D", "--retries", "1")
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--mirror" in result.stderr and "BNNTOOL_MIRROR" in result.stderr


def _mirror_folder(root: Path, files: dict[str, bytes]) -> Path:
    (root / "tiny").mkdir(parents=True)
    for name, body in files.items():
        (root / "tiny" / name).write_bytes(body)
    return root


def test_mirror_folder(tiny, http_server, tmp_path: Path) -> None:
    mirror = _mirror_folder(tmp_path / "mirror", FILES)
    result = fetch("tiny", tmp_path / "D", mirror, policy=FAST)
    assert {f.source for f in result.files} == {str(mirror)}
    assert http_server.requests == []


def test_mirror_from_the_environment(
    tiny, http_server, tmp_path: Path, monkeypatch, run_cli
) -> None:
    mirror = _mirror_folder(tmp_path / "mirror", FILES)
    monkeypatch.setenv("BNNTOOL_MIRROR", str(mirror))
    monkeypatch.setenv("BNNTOOL_DATA_DIR", str(tmp_path / "D"))
    result = run_cli("fetch", "tiny")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "D" / "tiny" / "train-labels.gz").is_file()
    assert http_server.requests == []


def test_mirror_folder_missing_a_file(tiny, tmp_path: Path, run_cli) -> None:
    mirror = _mirror_folder(tmp_path / "mirror", {"train-images.gz": FILES["train-images.gz"]})
    data_dir = tmp_path / "D"
    result = run_cli("fetch", "tiny", "--mirror", mirror, "--data-dir", data_dir)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert f"mirror folder {mirror} has no tiny/train-labels.gz" in result.stderr
    assert not data_dir.exists()


def test_mirror_folder_that_does_not_exist(tiny, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="does not exist"):
        fetch("tiny", tmp_path / "D", tmp_path / "nowhere", policy=FAST)


def test_system_package_copy_is_accepted_by_content(
    tiny, http_server, monkeypatch, tmp_path: Path
) -> None:
    system = tmp_path / "usr-share"
    system.mkdir()
    # Same content, other gzip header (time stamp), as Debian's repackaged files.
    raw = {"train-images.gz": idx_images(IMAGES), "train-labels.gz": idx_labels(LABELS)}
    for name, content in raw.items():
        (system / name).write_bytes(gz(content, mtime=1234567))
        assert (system / name).read_bytes() != FILES[name]
    info = tiny_dataset("tiny", FILES, f"{http_server.url}/official", system_dirs=(str(system),))
    info = _with_content_md5(info, raw)
    monkeypatch.setitem(catalog.DATASETS, "tiny", info)
    result = fetch("tiny", tmp_path / "D", policy=FAST)
    assert {(f.source, f.verified_by) for f in result.files} == {(str(system), "content")}
    assert http_server.requests == []


def test_corrupt_system_copy_is_ignored(tiny, http_server, monkeypatch, tmp_path: Path) -> None:
    system = tmp_path / "usr-share"
    system.mkdir()
    (system / "train-images.gz").write_bytes(b"broken")
    info = tiny_dataset("tiny", FILES, f"{http_server.url}/official", system_dirs=(str(system),))
    monkeypatch.setitem(catalog.DATASETS, "tiny", info)
    messages: list[str] = []
    result = fetch("tiny", tmp_path / "D", policy=FAST, log=messages.append)
    assert result.files[0].source.startswith(http_server.url)
    assert any("fails its checksum" in m for m in messages)


def _with_content_md5(info, raw: dict[str, bytes]):
    files = tuple(
        dataclasses.replace(f, content_md5=hashlib.md5(raw[f.name]).hexdigest()) for f in info.files
    )
    return dataclasses.replace(info, files=files)


def test_unwritable_data_dir(tiny, tmp_path: Path, run_cli) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    result = run_cli("fetch", "tiny", "--data-dir", blocker / "D")
    assert result.exit_code == 2
    assert result.stderr.startswith("bnntool: error: cannot write to data directory")
    assert "--data-dir" in result.stderr
    assert result.stderr.count("\n") == 1


def test_unwritable_data_dir_api(tiny, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="cannot write"):
        fetch("tiny", tmp_path / "file" / "D", policy=FAST)


def test_unknown_dataset(run_cli) -> None:
    result = run_cli("fetch", "imagenet")
    assert result.exit_code == 2
    assert result.stderr == (
        "bnntool: error: unknown dataset 'imagenet'; known datasets: mnist, fashion-mnist, "
        "cifar-10, gtsrb (run 'bnntool datasets' to list them)\n"
    )


def test_datasets_reports_presence_and_verification(
    tiny, http_server, tmp_path: Path, run_cli
) -> None:
    def state() -> dict:
        result = run_cli("datasets", "--json", "--data-dir", tmp_path)
        assert result.exit_code == 0, result.stderr
        return {d["name"]: d for d in json.loads(result.stdout)}

    before = state()
    assert before["tiny"]["present"] is False and before["tiny"]["size"] == 0
    assert set(before) == {"mnist", "fashion-mnist", "cifar-10", "gtsrb", "tiny"}

    fetch("tiny", tmp_path, policy=FAST)
    after = state()["tiny"]
    assert after["present"] and after["verified"]
    assert after["size"] == sum(len(b) for b in FILES.values())

    (tmp_path / "tiny" / "train-images.gz").write_bytes(b"damaged")
    damaged = state()["tiny"]
    assert damaged["present"] and not damaged["verified"]
    assert [f["verified"] for f in damaged["files"]] == [False, True]
    table = run_cli("datasets", "--data-dir", tmp_path).stdout
    assert any(line.startswith("tiny") and "CORRUPT" in line for line in table.splitlines())
