"""Instance-ID mask PNG folders: class tables (JSON, CSV, default), 8/16-bit ids, errors, and writing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from instaseg.data.formats.mask_png import read_mask_png, write_mask_png
from instaseg.data.images import write_png
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask


def write_pair(root: Path, name: str, ids: np.ndarray, image_suffix: str = ".png") -> None:
    """images/NAME.<suffix> of the mask's size and masks/NAME.png holding ``ids`` (8- or 16-bit)."""
    write_png(root / "images" / f"{name}{image_suffix}", np.zeros((*ids.shape, 3), np.uint8))
    write_png(root / "masks" / f"{name}.png", ids)


def two_instances(dtype=np.uint8, second_id: int = 2) -> np.ndarray:
    ids = np.zeros((30, 40), dtype)
    ids[2:10, 3:13] = 1  # 80 pixels
    ids[15:25, 20:35] = second_id  # 150 pixels
    return ids


def test_json_table_with_default_class_and_16_bit_ids(tmp_path):
    write_pair(tmp_path, "a", two_instances())
    write_pair(tmp_path, "sub/b", two_instances(np.uint16, second_id=700))
    (tmp_path / "classes.json").write_text(json.dumps({
        "categories": [{"id": 4, "name": "cell"}, {"id": 9, "name": "debris"}],
        "default": "cell", "instances": {"a": {"2": "debris"}, "sub/b.png": {"700": "debris"}}}))

    dataset = read_mask_png(tmp_path)

    assert [(c.id, c.name) for c in dataset.categories] == [(4, "cell"), (9, "debris")]
    assert [i.file_name for i in dataset.images] == ["a.png", "sub/b.png"]
    for image in dataset.images:
        assert [(a.category_id, a.area) for a in image.annotations] == [(4, 80), (9, 150)]
        assert image.annotations[1].bbox == [20.0, 15.0, 15.0, 10.0]


def test_csv_table_and_default_class_alone(tmp_path):
    write_pair(tmp_path, "a", two_instances(), image_suffix=".jpg")
    (tmp_path / "classes.csv").write_text("image,instance_id,class\na.jpg,1,nucleus\na,2,cell\n")

    by_csv = read_mask_png(tmp_path)
    (tmp_path / "classes.csv").unlink()
    by_default = read_mask_png(tmp_path, default_class="cell")

    assert [(c.id, c.name) for c in by_csv.categories] == [(1, "cell"), (2, "nucleus")]
    assert [a.category_id for a in by_csv.images[0].annotations] == [2, 1]
    assert [(c.id, c.name) for c in by_default.categories] == [(1, "cell")]
    assert [a.category_id for a in by_default.images[0].annotations] == [1, 1]


def test_palette_masks_give_their_indices(tmp_path):
    write_png(tmp_path / "images" / "a.png", np.zeros((30, 40, 3), np.uint8))
    palette = Image.fromarray(two_instances(), mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))
    (tmp_path / "masks").mkdir()
    palette.save(tmp_path / "masks" / "a.png")

    annotations = read_mask_png(tmp_path, default_class="cell").images[0].annotations

    assert [a.area for a in annotations] == [80, 150]


def test_missing_table_colour_masks_and_size_mismatch_are_errors(tmp_path):
    write_pair(tmp_path, "a", two_instances())
    with pytest.raises(DatasetError, match="no classes.json or classes.csv"):
        read_mask_png(tmp_path)

    write_png(tmp_path / "images" / "b.png", np.zeros((31, 40, 3), np.uint8))
    write_png(tmp_path / "masks" / "b.png", two_instances())
    mismatch = r"masks/b.png: mask is 40x30 \(WxH\) but its image b.png is 40x31"
    with pytest.raises(DatasetError, match=mismatch):
        read_mask_png(tmp_path, default_class="cell")

    colour = np.zeros((31, 40, 3), np.uint8)
    colour[0, 0] = (255, 0, 0)
    write_png(tmp_path / "masks" / "b.png", colour)
    with pytest.raises(DatasetError, match="masks/b.png: a RGB colour image; instance masks must be single"):
        read_mask_png(tmp_path, default_class="cell")


def test_ids_without_class_are_errors_and_absent_ids_are_warnings(tmp_path):
    write_pair(tmp_path, "a", two_instances())
    (tmp_path / "classes.json").write_text(json.dumps({"instances": {"a": {"1": "cell", "3": "cell"}}}))

    with pytest.raises(DatasetError) as raised:
        read_mask_png(tmp_path)
    assert "masks/a.png: instance id(s) 2 have no class in" in str(raised.value)
    assert "classes.json (instances.a)" in str(raised.value)

    table = {"instances": {"a": {"1": "cell", "2": "x", "3": "x"}}}
    (tmp_path / "classes.json").write_text(json.dumps(table))
    notes: list[str] = []
    read_mask_png(tmp_path, notes=notes)
    assert len(notes) == 1 and "instances.a lists id(s) 3 that" in notes[0] and "masks/a.png" in notes[0]


@pytest.mark.parametrize("table, message", [
    ({"instances": {"a": {"one": "cell"}}}, r"field instances.a.one: instance id 'one' is not an integer"),
    ({"instances": {"a": {"0": "cell"}}}, r"field instances.a.0: instance id 0 must be >= 1"),
    ({"instances": {"a": {"1": 3}}}, r"field instances.a.1: class must be a name string"),
    ({"categories": [{"id": 1, "name": "cell"}], "default": "dust"}, r"class\(es\) 'dust' are not in its"),
])
def test_bad_class_tables_name_the_field(tmp_path, table, message):
    write_pair(tmp_path, "a", two_instances())
    (tmp_path / "classes.json").write_text(json.dumps(table))

    with pytest.raises(DatasetError, match=message):
        read_mask_png(tmp_path)


def test_bad_csv_rows_name_the_line(tmp_path):
    write_pair(tmp_path, "a", two_instances())
    (tmp_path / "classes.csv").write_text("image,instance_id,class\na,1,cell\na,two,cell\n")

    with pytest.raises(DatasetError, match=r"classes.csv: line 3: instance id 'two' is not an integer"):
        read_mask_png(tmp_path)


def test_images_without_masks_are_kept_with_a_warning(tmp_path):
    write_pair(tmp_path, "a", two_instances())
    write_png(tmp_path / "images" / "b.png", np.zeros((5, 5, 3), np.uint8))
    notes: list[str] = []

    dataset = read_mask_png(tmp_path, default_class="cell", notes=notes)

    assert [len(i.annotations) for i in dataset.images] == [2, 0]
    assert notes == [f"1 image(s) have no mask in {tmp_path / 'masks'} and were kept with no instances: b"]


def box(x0, y0, x1, y1, height=30, width=40) -> np.ndarray:
    bitmap = np.zeros((height, width), bool)
    bitmap[y0:y1, x0:x1] = True
    return bitmap


def test_writer_round_trips_and_says_what_an_id_mask_cannot_hold(tmp_path):
    write_png(tmp_path / "src" / "a.png", np.zeros((30, 40, 3), np.uint8))
    big, small, smaller, apart = box(0, 0, 20, 20), box(5, 5, 10, 10), box(6, 6, 8, 8), box(25, 0, 40, 10)
    annotations = [Annotation.from_mask(10, 1, Mask.from_bitmap(big)),
                   Annotation.from_mask(11, 2, Mask.from_bitmap(small), iscrowd=True),
                   Annotation.from_mask(12, 1, Mask.from_bitmap(apart), score=0.9),
                   Annotation.from_mask(13, 1, Mask.from_rle(Mask.from_bitmap(smaller).to_rle())),
                   Annotation(14, 2, None, bbox=[30, 20, 5, 5])]
    dataset = InstanceDataset([ImageRecord(1, "a.png", 40, 30, annotations)],
                              [Category(1, "cell"), Category(2, "nucleus")], tmp_path / "src")
    notes: list[str] = []

    written = write_mask_png(dataset, tmp_path / "out", notes=notes)
    back = read_mask_png(tmp_path / "out")

    assert written == 5
    ids = np.asarray(Image.open(tmp_path / "out" / "masks" / "a.png"))
    assert ids.dtype == np.uint8 and ids[7, 7] == 4  # the smallest instance is painted last
    assert [(c.id, c.name) for c in back.categories] == [(1, "cell"), (2, "nucleus")]
    bitmaps = [a.mask.to_bitmap() for a in back.images[0].annotations]
    assert np.array_equal(bitmaps[0], big & ~small)
    assert np.array_equal(bitmaps[1], small & ~smaller)
    assert np.array_equal(bitmaps[2], apart)
    assert np.array_equal(bitmaps[3], smaller)
    assert [a.category_id for a in back.images[0].annotations] == [1, 2, 1, 1, 2]
    assert any("2 overlapping instance(s) lost their shared pixels" in n and "ids 10, 11" in n for n in notes)
    assert any("no crowd flag: 1 crowd annotation(s)" in n and "ids 11" in n for n in notes)
    assert any("1 score(s) dropped" in n for n in notes)
    assert any("written as their filled box (ids 14)" in n for n in notes)


def test_writer_reports_fully_covered_instances_and_goes_16_bit(tmp_path):
    write_png(tmp_path / "src" / "a.png", np.zeros((30, 40, 3), np.uint8))
    pixels = [Annotation.from_mask(i, 1, Mask.from_bitmap(box(i % 40, i // 40, i % 40 + 1, i // 40 + 1)))
              for i in range(300)]
    covered = Annotation.from_mask(999, 1, Mask.from_bitmap(box(0, 0, 2, 1)))  # under pixels 0 and 1
    dataset = InstanceDataset([ImageRecord(1, "a.png", 40, 30, pixels + [covered])], [Category(1, "dot")],
                              tmp_path / "src")
    notes: list[str] = []

    written = write_mask_png(dataset, tmp_path / "out", notes=notes)

    assert written == 300
    assert np.asarray(Image.open(tmp_path / "out" / "masks" / "a.png")).max() == 300
    assert any("1 instance(s) lay entirely under" in n and "ids 999" in n for n in notes)
    assert read_mask_png(tmp_path / "out").num_annotations == 300
