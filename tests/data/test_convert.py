"""convert(): every reader to every writer through the hub, honest reports, and no clobbering."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from instaseg.data.convert import READERS, WRITERS, convert
from instaseg.data.formats.coco import read_coco
from instaseg.data.images import write_png
from instaseg.errors import DatasetError, InstasegError
from instaseg.structures.masks import Mask


def blob_with_hole_and_islands(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    canvas = np.zeros((height, width), np.uint8)
    for _ in range(2):
        centre = (int(rng.integers(10, width - 10)), int(rng.integers(10, height - 10)))
        radius = int(rng.integers(8, min(height, width) // 3))
        cv2.circle(canvas, centre, radius, 1, -1)
        cv2.circle(canvas, centre, radius // 3, 0, -1)
    canvas[rng.random((height, width)) < 0.002] = 1
    return canvas.astype(bool)


def write_coco_dataset(root: Path, seed: int = 0) -> Path:
    """root/annotations.json + root/images/: RLE, polygons, crowd, holes, several parts, an empty image."""
    rng = np.random.default_rng(seed)
    payload = {"images": [], "annotations": [],
               "categories": [{"id": 1, "name": "cell", "supercategory": "tissue"},
                              {"id": 5, "name": "dust"}]}
    for image_id, (height, width) in enumerate([(64, 96), (320, 200), (150, 150)], start=1):
        write_png(root / "images" / f"{image_id}.png", rng.integers(0, 255, (height, width, 3), np.uint8))
        payload["images"].append({"id": image_id, "file_name": f"{image_id}.png", "width": width,
                                  "height": height})
        for k in range(4 if image_id < 3 else 0):
            mask = Mask.from_bitmap(blob_with_hole_and_islands(rng, height, width))
            crowd = k == 3
            payload["annotations"].append({
                "id": 10 * image_id + k, "image_id": image_id, "category_id": [1, 5][k % 2],
                "segmentation": mask.to_rle() if k % 2 or crowd else mask.to_polygons(),
                "bbox": mask.bbox_xywh, "area": mask.area, "iscrowd": int(crowd)})
    (root / "annotations.json").write_text(json.dumps(payload))
    return root / "annotations.json"


def test_coco_to_yolo_seg_to_coco_keeps_instances_categories_and_pixels(tmp_path):
    source = write_coco_dataset(tmp_path / "coco")

    there = convert(source, "coco", "yolo-seg", tmp_path / "yolo")
    back = convert(tmp_path / "yolo", "yolo-seg", "coco", tmp_path / "again" / "annotations.json")

    original, copy = read_coco(source), read_coco(tmp_path / "again" / "annotations.json")
    assert (there.images, there.instances_read, there.instances_written) == (3, 8, 8)
    assert (back.images, back.instances_read, back.instances_written) == (3, 8, 8)
    assert any("no iscrowd flag: 2 crowd annotation(s)" in n and "ids 13, 23" in n for n in there.notices)
    assert any("remapped to 0..K-1" in n for n in there.notices)
    assert any("no supercategories" in n for n in there.notices)
    assert back.notices == []
    assert [(c.id, c.name) for c in copy.categories] == [(1, "cell"), (5, "dust")]
    for before in original.images:
        after = next(i for i in copy.images if i.file_name == f"train/{before.file_name}")
        assert copy.image_path(after).read_bytes() == original.image_path(before).read_bytes()
        assert [a.category_id for a in after.annotations] == [a.category_id for a in before.annotations]
        for a, b in zip(before.annotations, after.annotations):
            x, y = a.mask.to_bitmap(), b.mask.to_bitmap()
            assert (x & y).sum() / (x | y).sum() >= 0.98


def test_readers_reach_every_writer(tmp_path):
    ids = np.zeros((20, 30), np.uint8)
    ids[2:8, 2:8], ids[10:18, 10:25] = 1, 2
    write_png(tmp_path / "cells" / "images" / "a.png", np.zeros((20, 30, 3), np.uint8))
    write_png(tmp_path / "cells" / "masks" / "a.png", ids)

    to_yolo = convert(tmp_path / "cells", "mask-png", "yolo-seg", tmp_path / "yolo", default_class="cell")
    to_masks = convert(tmp_path / "yolo", "yolo-seg", "mask-png", tmp_path / "masks")
    to_coco = convert(tmp_path / "masks", "mask-png", "coco", tmp_path / "coco" / "cells.json")

    assert [r.instances_written for r in (to_yolo, to_masks, to_coco)] == [2, 2, 2]
    payload = json.loads((tmp_path / "coco" / "cells.json").read_text())
    assert sorted(a["area"] for a in payload["annotations"]) == [36, 120]
    assert payload["categories"] == [{"id": 1, "name": "cell", "supercategory": ""}]
    assert (tmp_path / "coco" / "images" / "train" / "a.png").is_file()


def test_cityscapes_crowds_are_reported_by_the_mask_png_writer(tmp_path):
    values = np.zeros((16, 16), np.uint16)
    values[0:4, 0:4], values[8:12, 8:12] = 26000, 24
    write_png(tmp_path / "cs" / "gtFine" / "val" / "bonn" / "x_gtFine_instanceIds.png", values)
    image = np.zeros((16, 16, 3), np.uint8)
    write_png(tmp_path / "cs" / "leftImg8bit" / "val" / "bonn" / "x_leftImg8bit.png", image)

    report = convert(tmp_path / "cs", "cityscapes", "mask-png", tmp_path / "out", split="val")

    assert report.instances_written == 2
    assert any("no crowd flag: 1 crowd annotation(s)" in n for n in report.notices)
    classes = json.loads((tmp_path / "out" / "classes.json").read_text())
    assert sorted(classes["instances"]["val/bonn/x_leftImg8bit"].values()) == ["car", "person"]


def test_outputs_are_not_clobbered_without_overwrite_and_the_source_never(tmp_path):
    source = write_coco_dataset(tmp_path / "coco")
    convert(source, "coco", "yolo-seg", tmp_path / "yolo")
    convert(source, "coco", "coco", tmp_path / "copy" / "annotations.json")
    label = tmp_path / "yolo" / "labels" / "train" / "1.txt"
    label.write_text("stale")

    with pytest.raises(InstasegError, match="folder is not empty; choose another --out or pass --overwrite"):
        convert(source, "coco", "yolo-seg", tmp_path / "yolo")
    assert label.read_text() == "stale"
    with pytest.raises(InstasegError, match="annotations.json: already exists"):
        convert(source, "coco", "coco", tmp_path / "copy" / "annotations.json")
    with pytest.raises(InstasegError, match="images folder beside other.json is not empty"):
        convert(source, "coco", "coco", tmp_path / "copy" / "other.json")
    with pytest.raises(InstasegError, match="is the source being converted"):
        convert(tmp_path / "yolo", "yolo-seg", "yolo-seg", tmp_path / "yolo", overwrite=True)
    with pytest.raises(InstasegError, match="is the source being converted"):
        convert(source, "coco", "coco", source, overwrite=True)

    convert(source, "coco", "yolo-seg", tmp_path / "yolo", overwrite=True)
    assert label.read_text() != "stale"


def test_a_source_that_fails_leaves_no_output(tmp_path):
    (tmp_path / "bad" / "images").mkdir(parents=True)
    (tmp_path / "bad" / "data.yaml").write_text("names: [a]\n")
    write_png(tmp_path / "bad" / "images" / "a.png", np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "bad" / "labels").mkdir()
    (tmp_path / "bad" / "labels" / "a.txt").write_text("0 0.5 0.5\n")

    with pytest.raises(DatasetError, match=r"a.txt:1: a polygon needs at least 3 points"):
        convert(tmp_path / "bad", "yolo-seg", "coco", tmp_path / "out" / "a.json")
    assert not (tmp_path / "out").exists()


def test_formats_and_options_are_checked(tmp_path):
    source = write_coco_dataset(tmp_path / "coco")
    assert set(READERS) == {"coco", "yolo-seg", "labelme", "mask-png", "cityscapes"}
    assert set(WRITERS) == {"coco", "yolo-seg", "mask-png"}
    with pytest.raises(InstasegError, match="cannot write 'labelme'; writable formats: coco, yolo-seg"):
        convert(source, "coco", "labelme", tmp_path / "out")
    with pytest.raises(InstasegError, match="cannot read 'voc'"):
        convert(source, "voc", "coco", tmp_path / "out.json")
    with pytest.raises(InstasegError, match="option\\(s\\) labels do not apply to coco -> yolo-seg"):
        convert(source, "coco", "yolo-seg", tmp_path / "out", labels="x.txt")
    with pytest.raises(InstasegError, match="missing.json: not found"):
        convert(tmp_path / "missing.json", "coco", "yolo-seg", tmp_path / "out")
    with pytest.raises(InstasegError, match="is a folder; for coco --out is the JSON file"):
        convert(tmp_path / "coco", "coco", "coco", tmp_path)


def test_coco_images_option_points_at_another_folder(tmp_path):
    source = write_coco_dataset(tmp_path / "coco")
    (tmp_path / "coco" / "images").rename(tmp_path / "pictures")

    report = convert(source, "coco", "yolo-seg", tmp_path / "yolo", images=tmp_path / "pictures", split="val")

    assert report.images == 3
    assert (tmp_path / "yolo" / "images" / "val" / "2.png").is_file()
