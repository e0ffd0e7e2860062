"""Cityscapes instanceIds: instances, crowd regions of thing classes, stuff ignored, errors named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from instaseg.data.formats.cityscapes import read_cityscapes
from instaseg.data.images import write_png
from instaseg.errors import DatasetError


def write_frame(root: Path, split: str, city: str, name: str, values: np.ndarray,
                image_shape: tuple[int, int] | None = None) -> None:
    """gtFine/<split>/<city>/<name>_gtFine_instanceIds.png (16-bit) and its leftImg8bit image."""
    write_png(root / "gtFine" / split / city / f"{name}_gtFine_instanceIds.png", values.astype(np.uint16))
    shape = image_shape or values.shape
    image = np.zeros((*shape, 3), np.uint8)
    write_png(root / "leftImg8bit" / split / city / f"{name}_leftImg8bit.png", image)


def street() -> np.ndarray:
    values = np.full((32, 64), 7)  # road: stuff
    values[2:8, 2:10] = 26000  # car instance 0: 48 px
    values[10:14, 2:10] = 26002  # car 2: 32 px
    values[20:30, 40:50] = 24  # a crowd of people (a thing class without instance ids): 100 px
    values[20:22, 0:5] = 24003  # a person: 10 px
    values[0:4, 50:60] = 29001  # a caravan: not evaluated
    values[30:32, 0:64] = 4  # static: stuff
    return values


def test_instances_and_crowd_regions_with_cityscapes_category_ids(tmp_path):
    write_frame(tmp_path, "train", "aachen", "aachen_000000_000019", street())
    notes: list[str] = []

    dataset = read_cityscapes(tmp_path, notes=notes)

    assert [(c.id, c.name) for c in dataset.categories] == [
        (24, "person"), (25, "rider"), (26, "car"), (27, "truck"), (28, "bus"), (31, "train"),
        (32, "motorcycle"), (33, "bicycle")]
    image = dataset.images[0]
    assert image.file_name == "train/aachen/aachen_000000_000019_leftImg8bit.png"
    assert dataset.image_path(image).is_file()
    assert (image.width, image.height) == (64, 32)
    found = sorted((a.category_id, a.area, a.iscrowd) for a in image.annotations)
    assert found == [(24, 10, False), (24, 100, True), (26, 32, False), (26, 48, False)]
    crowd = next(a for a in image.annotations if a.iscrowd)
    assert crowd.bbox == [40.0, 20.0, 10.0, 10.0]
    assert notes == ["1 caravan/trailer instance(s) skipped: Cityscapes does not evaluate those classes, so "
                     "they are not among its 8 thing categories"]


def test_split_selects_and_gtfine_itself_is_accepted(tmp_path):
    write_frame(tmp_path, "train", "aachen", "a_000000_000001", street())
    write_frame(tmp_path, "val", "lindau", "b_000000_000001", street())

    all_splits = read_cityscapes(tmp_path, notes=[])
    val = read_cityscapes(tmp_path / "gtFine", split="val", notes=[])

    assert [i.file_name.split("/")[0] for i in all_splits.images] == ["train", "val"]
    assert [i.file_name for i in val.images] == ["val/lindau/b_000000_000001_leftImg8bit.png"]
    assert len({a.id for _, a in all_splits.annotations()}) == all_splits.num_annotations == 8


def test_missing_or_mismatched_images_are_errors_naming_the_label_file(tmp_path):
    write_frame(tmp_path, "val", "lindau", "a_000000_000001", street(), image_shape=(32, 63))
    write_frame(tmp_path, "val", "lindau", "b_000000_000001", street())
    (tmp_path / "leftImg8bit" / "val" / "lindau" / "b_000000_000001_leftImg8bit.png").unlink()

    with pytest.raises(DatasetError) as raised:
        read_cityscapes(tmp_path)

    message = str(raised.value)
    assert "2 problem(s)" in message
    assert "a_000000_000001_gtFine_instanceIds.png: labels are 64x32 (WxH) but the image" in message
    assert "b_000000_000001_gtFine_instanceIds.png: its image:" in message and "not found" in message


def test_no_annotations_is_a_clear_error(tmp_path):
    (tmp_path / "gtFine").mkdir()
    with pytest.raises(DatasetError, match="no \\*/\\*/\\*_gtFine_instanceIds.png files"):
        read_cityscapes(tmp_path)
    with pytest.raises(DatasetError, match="no gtFine/ folder"):
        read_cityscapes(tmp_path / "elsewhere")
