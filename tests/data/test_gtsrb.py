"""GTSRB: upstream's resize-pad-cut preparation, on archives laid out as the official ones."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bnntool.data import load_dataset
from bnntool.data.gtsrb import PAD_VALUE, prepare_sign
from bnntool.errors import FormatError

HEADER = "Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n"


def _ppm(width: int, height: int, value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (value, 255 - value, 7)).save(buf, format="PPM")
    return buf.getvalue()


def test_wide_image_is_resized_to_40_padded_and_cut() -> None:
    square = prepare_sign(Image.new("RGB", (80, 40), (200, 10, 10)), crop=False)
    assert square.shape == (40, 40, 3)
    # 80x40 becomes 40x20: 10 rows of padding above and below.
    assert (square[:10] == PAD_VALUE).all() and (square[30:] == PAD_VALUE).all()
    assert (square[10:30] == (200, 10, 10)).all()
    cut = prepare_sign(Image.new("RGB", (80, 40), (200, 10, 10)))
    assert cut.shape == (32, 32, 3)
    np.testing.assert_array_equal(cut, square[4:36, 4:36])


def test_sides_are_rounded_half_up_and_odd_padding_goes_after() -> None:
    # 45 rows x 30 cols: 30 * 40/45 = 26.67 -> 27 columns, 13 pad columns: 6 before, 7 after.
    square = prepare_sign(Image.new("RGB", (30, 45), (9, 9, 9)), crop=False)
    assert (square[:, :6] == PAD_VALUE).all() and (square[:, 33:] == PAD_VALUE).all()
    assert (square[:, 6:33] == 9).all()
    # 36 cols x 48 rows: 36 * 40/48 = 30.0 exactly; 25 x 2: 2 * 40/25 = 3.2 -> 3.
    assert prepare_sign(Image.new("RGB", (25, 2)), crop=False).shape == (40, 40, 3)


@pytest.fixture
def gtsrb(tmp_path: Path) -> Path:
    folder = tmp_path / "gtsrb"
    folder.mkdir()
    with zipfile.ZipFile(folder / "GTSRB_Final_Training_Images.zip", "w") as z:
        for cls in (0, 14):
            base = f"GTSRB/Final_Training/Images/{cls:05d}/"
            rows = ""
            for track in range(2):
                for i in range(3):
                    name = f"{track:05d}_{i:05d}.ppm"
                    z.writestr(base + name, _ppm(30 + i, 32, cls * 10 + i))
                    rows += f"{name};{30 + i};32;5;5;25;27;{cls}\n"
            z.writestr(base + f"GT-{cls:05d}.csv", HEADER + rows)
    with zipfile.ZipFile(folder / "GTSRB_Final_Test_Images.zip", "w") as z:
        for i in range(4):
            z.writestr(f"GTSRB/Final_Test/Images/{i:05d}.ppm", _ppm(50, 40 + i, i))
        z.writestr("GTSRB/Final_Test/Images/GT-final_test.test.csv", "Filename;Width\n")
    with zipfile.ZipFile(folder / "GTSRB_Final_Test_GT.zip", "w") as z:
        rows = "".join(f"{i:05d}.ppm;50;{40 + i};1;1;40;40;{[3, 14, 0, 42][i]}\n" for i in range(4))
        z.writestr("GT-final_test.csv", HEADER + rows)
    return tmp_path


def test_training_split(gtsrb: Path) -> None:
    train = load_dataset("gtsrb", "train", gtsrb)
    assert train.images.shape == (12, 32, 32, 3)
    assert train.labels.tolist() == [0] * 6 + [14] * 6
    assert len(train.classes) == 43 and train.classes[14] == "Stop"
    # One group per physical sign (class, track): 4 groups of 3 images.
    assert np.unique(train.groups, return_counts=True)[1].tolist() == [3, 3, 3, 3]
    assert train.images[7, 16, 16].tolist() == [141, 114, 7]  # class 14, image 1


def test_test_split_takes_labels_from_the_ground_truth_archive(gtsrb: Path) -> None:
    test = load_dataset("gtsrb", "test", gtsrb)
    assert test.labels.tolist() == [3, 14, 0, 42]
    assert test.images.shape == (4, 32, 32, 3)
    assert test.groups is None


def test_damaged_archive(gtsrb: Path) -> None:
    (gtsrb / "gtsrb" / "GTSRB_Final_Test_GT.zip").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="GTSRB_Final_Test_GT.zip is not a readable zip archive"):
        load_dataset("gtsrb", "test", gtsrb)
