"""What bnntool checks before it uses a file: a params folder against its manifest (case 4), a
fetched dataset against what fetch verified (case 6), a data directory's layout (case 9), the
overlay of a folder by one rule (case 15)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from bnntool.data import fetch
from bnntool.train import load_recipe, train
from tests.faults.conftest import leftovers, one_line_error, small_recipe, tree


@pytest.fixture(scope="module")
def params(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("p")
    train(load_recipe(small_recipe(folder, epochs=1)), folder / "run", limit=200, data_dir=data_dir)
    from bnntool.convert import convert

    convert(folder / "run" / "weights.npz", "lfcW1A1", folder / "params")
    return folder / "params"


@pytest.fixture
def own_data(shared: Path, tmp_path: Path) -> Path:
    """A data directory of its own (these tests change its files)."""
    folder = tmp_path / "data"
    fetch("mnist", folder, shared / "datasets")
    return folder


def test_verify_refuses_a_folder_that_no_longer_matches_its_manifest(
    params: Path, tmp_path: Path, data_dir: Path, run_cli
) -> None:
    # case 4: verify printed a changed accuracy where deploy refused the same folder
    edited = tmp_path / "edited"
    shutil.copytree(params, edited)
    target = edited / "1-0-weights.bin"
    data = bytearray(target.read_bytes())
    data[0] ^= 0xFF
    target.write_bytes(bytes(data))
    args = ("--dataset", "mnist", "--data-dir", data_dir, "--limit", "200")
    message = one_line_error(run_cli("verify", edited, *args, "--report", tmp_path / "r.json"))
    assert f"{target} does not match the sha256 in {edited / 'manifest.json'}" in message
    assert "--allow-edited" in message and not (tmp_path / "r.json").exists()
    ok = run_cli("verify", edited, *args, "--allow-edited", "--report", tmp_path / "r.json")
    assert ok.exit_code == 0, ok.stderr


@pytest.mark.parametrize("how", ["re-gzipped with altered labels", "truncated"])
def test_a_changed_dataset_file_is_refused_by_verify_and_train(
    how: str, own_data: Path, params: Path, tmp_path: Path, run_cli
) -> None:
    # case 6: an idx file changed after fetch was used by verify and train with no check
    labels = own_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    if how == "truncated":
        labels.write_bytes(labels.read_bytes()[:-100])
    else:
        raw[8] = (raw[8] + 1) % 10  # the first test image's label
        labels.write_bytes(gzip.compress(bytes(raw), mtime=0))
    before = tree(own_data)
    repair = f"repair it with: bnntool fetch mnist --data-dir {own_data}"
    message = one_line_error(
        run_cli("verify", params, "--dataset", "mnist", "--data-dir", own_data, "--limit", "9")
    )
    assert f"{labels} has changed since bnntool fetch verified it" in message
    assert message.endswith(repair)
    recipe = small_recipe(tmp_path, epochs=1)
    message = one_line_error(
        run_cli("train", recipe, "--out", tmp_path / "run", "--data-dir", own_data)
    )
    assert message.endswith(repair) and not (tmp_path / "run").exists()
    assert tree(own_data) == before  # refused, not silently fetched again
    fixed = run_cli("fetch", "mnist", "--data-dir", own_data, "--mirror", own_data.parent / "m")
    assert fixed.exit_code == 2  # that mirror does not exist: the repair needs a source


def test_the_repair_command_repairs(own_data: Path, shared: Path, params: Path, run_cli) -> None:
    labels = own_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-100])
    fixed = run_cli("fetch", "mnist", "--data-dir", own_data, "--mirror", shared / "datasets")
    assert fixed.exit_code == 0, fixed.stderr
    ok = run_cli("verify", params, "--dataset", "mnist", "--data-dir", own_data, "--limit", "9")
    assert ok.exit_code == 0, ok.stderr


def test_the_same_content_gzipped_again_is_fine(own_data: Path, params: Path, run_cli) -> None:
    # as Debian's repackaged copies: another gzip header, the same decompressed bytes
    labels = own_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(
        gzip.compress(gzip.decompress(labels.read_bytes()), mtime=1, compresslevel=1)
    )
    ok = run_cli("verify", params, "--dataset", "mnist", "--data-dir", own_data, "--limit", "9")
    assert ok.exit_code == 0, ok.stderr


def test_a_touched_but_unchanged_file_is_fine(own_data: Path, params: Path, run_cli) -> None:
    labels = own_data / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.touch()  # a new mtime: checked in full once, then trusted again
    for _ in range(2):
        ok = run_cli("verify", params, "--dataset", "mnist", "--data-dir", own_data, "--limit", "9")
        assert ok.exit_code == 0, ok.stderr


def test_fetch_with_a_folder_where_a_file_belongs(shared: Path, tmp_path: Path, run_cli) -> None:
    # case 9: a traceback when a directory stands where an idx file should be
    data = tmp_path / "data"
    odd = data / "mnist" / "train-labels-idx1-ubyte.gz"
    odd.mkdir(parents=True)
    (odd / "mine.txt").write_text("mine")
    message = one_line_error(
        run_cli("fetch", "mnist", "--data-dir", data, "--mirror", shared / "datasets")
    )
    assert f"{odd} is not a file" in message and "move it away" in message
    assert (odd / "mine.txt").read_text() == "mine" and leftovers(data) == []
    assert sorted(str(p.relative_to(data)) for p in data.rglob("*")) == [
        "mnist",
        "mnist/train-labels-idx1-ubyte.gz",
        "mnist/train-labels-idx1-ubyte.gz/mine.txt",
    ]


def test_verify_and_deploy_infer_the_overlay_by_one_rule(upstream: Path, tmp_path: Path) -> None:
    # case 15: verify needed --overlay for a folder named lfcW1A1; deploy inferred it
    from bnntool.board.deploy import bundle
    from bnntool.convert.params import read_params

    folder = tmp_path / "mnist" / "lfcW1A1"
    shutil.copytree(upstream / "params" / "mnist" / "lfcW1A1", folder)
    assert read_params(folder).spec.name == bundle(folder).overlay == "lfcW1A1"
