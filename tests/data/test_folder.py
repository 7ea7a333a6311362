"""A user's folder of images, one sub-folder per class."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bnntool.data import load_dataset
from bnntool.errors import DatasetError, FormatError


def _save(path: Path, size: tuple[int, int], colour: object, mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)


def test_classes_are_sorted_sub_folders(tmp_path: Path) -> None:
    _save(tmp_path / "imgs" / "dog" / "1.png", (8, 6), (1, 2, 3))
    _save(tmp_path / "imgs" / "cat" / "a.jpg", (8, 6), (200, 200, 200))
    _save(tmp_path / "imgs" / "cat" / "b.bmp", (8, 6), (0, 0, 0))
    (tmp_path / "imgs" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "imgs" / ".hidden").mkdir()
    data = load_dataset(tmp_path / "imgs")
    assert data.classes == ("cat", "dog")
    assert data.labels.tolist() == [0, 0, 1]
    assert data.images.shape == (3, 6, 8, 3)
    assert data.images[2, 0, 0].tolist() == [1, 2, 3]


def test_grey_images_give_a_grey_set_and_size_fits(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "x.png", (20, 10), 255, "L")
    _save(tmp_path / "b" / "y.png", (10, 10), 0, "L")
    data = load_dataset(str(tmp_path), size=(28, 28))
    assert data.images.shape == (2, 28, 28)
    # 20x10 fits as 28x14, centred: rows 7..20 white, the rest black canvas.
    assert data.images[0, 7:21].min() == 255 and data.images[0, :7].max() == 0


def test_train_and_test_sub_folders(tmp_path: Path) -> None:
    for split, n in (("train", 2), ("test", 1)):
        for cls in ("a", "b"):
            for i in range(n):
                _save(tmp_path / split / cls / f"{i}.png", (4, 4), (i, i, i))
    assert len(load_dataset(tmp_path, "train")) == 4
    assert len(load_dataset(tmp_path, "test")) == 2


def test_no_images(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "readme.txt").write_text("x")
    with pytest.raises(DatasetError, match="has no images; expected .*/<class name>/<image files>"):
        load_dataset(tmp_path)


def test_one_class(tmp_path: Path) -> None:
    _save(tmp_path / "only" / "1.png", (4, 4), (0, 0, 0))
    with pytest.raises(DatasetError, match=r"only one class \(only\)"):
        load_dataset(tmp_path)


def test_mixed_sizes_need_a_size(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "1.png", (4, 4), (0, 0, 0))
    _save(tmp_path / "b" / "2.png", (5, 4), (0, 0, 0))
    with pytest.raises(DatasetError, match="give a common size"):
        load_dataset(tmp_path)
    assert load_dataset(tmp_path, size=(4, 4)).images.shape == (2, 4, 4, 3)


def test_unreadable_image(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "1.png", (4, 4), (0, 0, 0))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "2.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(FormatError, match=r"2.png is not a readable image"):
        load_dataset(tmp_path)


def test_test_split_needs_a_test_folder(tmp_path: Path) -> None:
    _save(tmp_path / "a" / "1.png", (4, 4), (0, 0, 0))
    _save(tmp_path / "b" / "1.png", (4, 4), (0, 0, 0))
    with pytest.raises(DatasetError, match="no test/ sub-folder"):
        load_dataset(tmp_path, "test")


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")


def test_dataset_name_wins_over_a_folder_of_that_name(tmp_path: Path, monkeypatch) -> None:
    _save(tmp_path / "mnist" / "a" / "1.png", (4, 4), (0, 0, 0))
    _save(tmp_path / "mnist" / "b" / "1.png", (4, 4), (9, 9, 9))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="run 'bnntool fetch mnist'"):
        load_dataset("mnist", data_dir=tmp_path / "empty")
    assert load_dataset("./mnist").classes == ("a", "b")
