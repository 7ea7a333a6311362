"""A folder of a user's photos read for a model: split once and checked, prepared, cached,
unreadable files refused or skipped. The folders are made of real Fashion-MNIST images."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnntool.data import folder as folder_module
from bnntool.data import imagecache, load_dataset
from bnntool.data.folder import list_folder
from bnntool.data.load import FolderReading
from bnntool.data.split import FolderOptions, check_split, describe, split_folder
from bnntool.errors import DatasetError, FormatError, UserError
from bnntool.preparation import Preparation
from tests.data.photos import BROKEN, CLASSES, photo_folder

GREY = (28, 28)


@pytest.fixture
def photos(shared: Path, tmp_path: Path) -> Path:
    return photo_folder(shared, tmp_path / "photos", 20)


def _reading(**kw) -> FolderReading:
    return FolderReading(GREY, Preparation(), **kw)


def test_split_per_class_seeded_and_recorded(photos: Path) -> None:
    listing = list_folder(photos)
    assert listing.classes == tuple(sorted(CLASSES))  # folder names, spaces and Ü kept
    assert len(listing) == 201  # 20 per class and the broken file
    split = split_folder(listing, share=0.25, seed=3)
    per_class = np.bincount(listing.labels[split.test], minlength=10)
    assert per_class.tolist() == [5] * 10  # 25% of each class (Bag: round(21 / 4) = 5)
    record = split.record
    assert record["rule"] == "share" and record["test_images"] == 50 and record["seed"] == 3
    assert record["class_images"][listing.classes.index("Bag")] == 21
    assert describe(record) == (
        "50 of 201 images held out for test (25% of each class, seed 3), 151 for training"
    )
    assert split_folder(listing, share=0.25, seed=3).record == record  # the same every time
    other = split_folder(listing, share=0.25, seed=4)
    assert other.record["test_sha256"] != record["test_sha256"]
    # both parts in one seeded order that mixes the classes
    test = split.indices(listing, "test")
    assert len(set(listing.labels[test[:10]].tolist())) > 3


def test_the_split_is_checked_where_the_run_is_not(photos: Path) -> None:
    listing = list_folder(photos)
    split = split_folder(listing, share=0.2, seed=0)
    recorded = split.record
    assert check_split(list_folder(photos), recorded, "p/manifest.json").record == recorded
    moved = photos / listing.files[int(np.flatnonzero(split.test)[0])]  # a test image
    moved.rename(moved.with_name("renamed" + moved.suffix))
    said = r"changed since training split it \(as p/manifest.json records\) \(files renamed"
    with pytest.raises(DatasetError, match=said):
        check_split(list_folder(photos), recorded, "p/manifest.json")
    moved.with_name("renamed" + moved.suffix).rename(moved)
    for i in range(5):  # enough new files that the class's test share grows
        shutil.copy(moved, moved.with_name(f"new{i}{moved.suffix}"))
    said = r"/photos/.+ changed since training split it .*\(5 images added: 2\d images, 2\d then\)"
    with pytest.raises(DatasetError, match=said + ".*give --split all"):
        check_split(list_folder(photos), recorded, "p/manifest.json")
    for i in range(5):
        moved.with_name(f"new{i}{moved.suffix}").unlink()
    shutil.rmtree(photos / "Sandal")
    with pytest.raises(DatasetError, match="no images in class folder Sandal"):
        check_split(list_folder(photos), recorded, "p/manifest.json")
    with pytest.raises(UserError, match="the split record .* is not one this bnntool reads"):
        check_split(list_folder(photos), {"rule": "dice"}, "p/manifest.json")


def test_read_for_a_model_prepared_split_and_said(photos: Path) -> None:
    said: list[str] = []
    options = FolderOptions(test=0.2, seed=1, unreadable="skip")
    reading = _reading(options=options, log=said.append)
    train = load_dataset(photos, "train", reading=reading)
    test = load_dataset(photos, "test", reading=reading)
    assert train.images.shape[1:] == GREY and test.images.shape[1:] == GREY  # 64x64 RGB ones too
    assert len(train) + len(test) == 200 and len(test) == 40
    assert set(train.files).isdisjoint(test.files)
    assert said == [f"{photos}: skipped 1 unreadable image: {BROKEN} (Truncated File Read)"]
    assert train.skipped == (BROKEN,) and test.skipped == ()
    assert test.split_record == train.split_record and test.split_record["unreadable"] == "skip"
    # each image is its file, prepared: a 28x28 grey PNG comes out as its pixels
    sizes = [Image.open(photos / f).size for f in test.files]
    small = [i for i, size in enumerate(sizes) if size == (28, 28)]
    assert 10 < len(small) < len(test)
    for i in small:
        assert np.array_equal(test.images[i], np.asarray(Image.open(photos / test.files[i])))
    assert [test.classes[c] for c in test.labels] == [f.split("/")[0] for f in test.files]
    # verify's way in: the recorded split, recomputed
    again = load_dataset(photos, "test", reading=_reading(recorded=test.split_record, where="m"))
    assert again.files == test.files and np.array_equal(again.images, test.images)
    everything = load_dataset(photos, "all", reading=_reading(recorded=test.split_record))
    assert len(everything) == 200 and everything.split_record is None


def test_unreadable_refused_in_one_line(photos: Path) -> None:
    said = rf"{BROKEN} is not a readable image \(.+\); remove it, or set unreadable = \"skip\""
    with pytest.raises(FormatError, match=said + r" in the recipe's \[folder\] table"):
        load_dataset(photos, "train", reading=_reading(options=FolderOptions()))


def test_no_split_known(photos: Path) -> None:
    said = "no train/ and test/ sub-folders and p/manifest.json records no split of it"
    with pytest.raises(DatasetError, match=said + ".*give --split all"):
        load_dataset(photos, "test", reading=_reading(where="p/manifest.json"))


def test_train_and_test_folders_keep_one_class_list(shared: Path, tmp_path: Path) -> None:
    photo_folder(shared, tmp_path / "f" / "train", 6, classes=3, broken=False)
    photo_folder(shared, tmp_path / "f" / "test", 2, classes=2, broken=False, skip=6)
    reading = _reading(options=FolderOptions())
    test = load_dataset(tmp_path / "f", "test", reading=reading)
    train = load_dataset(tmp_path / "f", "train", reading=reading)
    assert test.classes == train.classes == ("Pullover", "T-shirt top", "Trouser")
    assert len(train) == 18 and len(test) == 4 and test.split_record["rule"] == "folders"
    assert all(f.startswith("test/") for f in test.files)
    assert {test.classes[c] for c in test.labels} == {"T-shirt top", "Trouser"}


def test_decoded_once_then_cached(photos: Path, monkeypatch, tmp_path: Path) -> None:
    reading = _reading(options=FolderOptions(unreadable="skip"))
    first = load_dataset(photos, "test", reading=reading)
    entries = list((tmp_path / "xdg-cache" / "bnntool" / "images").glob("*.npz"))
    assert len(entries) == 1 and imagecache.cache_dir() == entries[0].parent  # $XDG_CACHE_HOME
    decoded: list[Path] = []
    real = folder_module._decode_one

    def counting(path, shape, prep):
        decoded.append(path)
        return real(path, shape, prep)

    monkeypatch.setattr(folder_module, "_decode_one", counting)
    again = load_dataset(photos, "test", reading=reading)
    assert decoded == [] and np.array_equal(again.images, first.images)
    assert again.files == first.files
    # a touched file (another modification time) is a changed folder: read again
    touched = photos / first.files[0]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    load_dataset(photos, "test", reading=reading)
    assert len(decoded) == len(first)
    # another preparation is another entry
    decoded.clear()
    fit = FolderReading(GREY, Preparation("fit"), options=FolderOptions(unreadable="skip"))
    load_dataset(photos, "test", reading=fit)
    assert len(decoded) == len(first)
    # a damaged entry is read again, not an error
    decoded.clear()
    for entry in imagecache.cache_dir().glob("*.npz"):
        entry.write_bytes(b"PK\x03\x04 cut short")
    assert np.array_equal(load_dataset(photos, "test", reading=reading).images, first.images)
    assert len(decoded) == len(first)


def test_an_unwritable_cache_is_said_not_an_error(photos: Path, monkeypatch, tmp_path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would go")
    monkeypatch.setenv("BNNTOOL_CACHE_DIR", str(blocked))
    said: list[str] = []
    reading = _reading(options=FolderOptions(unreadable="skip"), log=said.append)
    assert len(load_dataset(photos, "test", reading=reading)) == 40
    assert any(s.startswith("note: the decoded images were not cached") for s in said)


def test_class_folder_names(tmp_path: Path) -> None:
    for name in ("Ankle boot", "U\u0308berzieher"):  # a name as macOS writes it (decomposed)
        (tmp_path / "p" / name).mkdir(parents=True)
        Image.new("L", (28, 28), 3).save(tmp_path / "p" / name / "a.png")
    assert list_folder(tmp_path / "p").classes == ("Ankle boot", "Überzieher")  # one spelling
    (tmp_path / "p" / "two\nlines").mkdir()
    with pytest.raises(DatasetError, match="cannot be a class name"):
        list_folder(tmp_path / "p")


def test_class_folders_matched_to_classes_txt(shared: Path, tmp_path: Path) -> None:
    from bnntool.convert.params import ParamsFolder
    from bnntool.overlay import load_overlay
    from bnntool.verify import in_classes_of

    def params(*names: str) -> ParamsFolder:
        return ParamsFolder(tmp_path / "p", load_overlay("lfcW1A1"), names, (), None)

    some = photo_folder(shared, tmp_path / "some", 2, classes=3, broken=False)
    data = load_dataset(some, "all", reading=_reading())
    assert data.classes == ("Pullover", "T-shirt top", "Trouser")
    named = in_classes_of(params(*CLASSES), data)  # by name: 3 of the 10 classes
    assert named.classes == CLASSES
    assert [named.classes[c] for c in named.labels] == [f.split("/")[0] for f in data.files]
    numbered = in_classes_of(params("0", "1", "2", "3"), data)  # no name matches: in order
    assert numbered.labels.tolist() == data.labels.tolist()
    with pytest.raises(DatasetError, match=r"class folder 'Trouser' of some is not a class of"):
        in_classes_of(params("Pullover", "T-shirt top", "Coat"), data)


def test_a_folder_rearranged_into_train_and_test_is_refused(photos: Path) -> None:
    # review: a share split checked against the same pictures moved into train/ and test/
    # folders was accepted (its test part then held training images)
    listing = list_folder(photos)
    recorded = split_folder(listing, share=0.2, seed=0).record
    (photos / "train").mkdir()
    (photos / "test").mkdir()
    for name in listing.classes:
        shutil.move(photos / name, photos / "train" / name)
    shutil.copytree(photos / "train" / listing.classes[0], photos / "test" / listing.classes[0])
    with pytest.raises(DatasetError, match=r"changed since .* \(it had no train/ and test/ then\)"):
        check_split(list_folder(photos), recorded, "run.json")
