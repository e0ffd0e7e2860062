"""YOLO-seg: COCO -> YOLO-seg -> COCO keeps every instance; bad label lines are named by file and line."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from instaseg.data.formats.coco import coco_to_dataset, dataset_to_coco
from instaseg.data.formats.yolo_seg import read_yolo_seg, write_yolo_seg
from instaseg.data.images import write_png
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask


def random_mask(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W) bool: 2-3 discs, most with a hole, plus a few stray pixels: several parts and holes."""
    canvas = np.zeros((height, width), np.uint8)
    for _ in range(int(rng.integers(2, 4))):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = int(rng.integers(6, max(7, min(height, width) // 3)))
        cv2.circle(canvas, centre, radius, 1, -1)
        if rng.random() < 0.8:
            cv2.circle(canvas, centre, radius // 2, 0, -1)
    canvas[rng.random((height, width)) < 0.001] = 1
    return canvas.astype(bool)


def segmentation_of(bitmap: np.ndarray, encoding: str):
    mask = Mask.from_bitmap(bitmap)
    if encoding == "polygons":
        return mask.to_polygons()
    return mask.to_uncompressed_rle() if encoding == "uncompressed" else mask.to_rle()


def make_coco(tmp_path: Path, rng: np.random.Generator, image_count: int = 6) -> dict:
    """A COCO payload over real PNGs in tmp_path/src: every mask encoding, crowds, an empty image."""
    payload = {"images": [], "annotations": [],
               "categories": [{"id": 3, "name": "cell"}, {"id": 7, "name": "nucleus"}]}
    encodings = ["polygons", "rle", "uncompressed"]
    for image_id in range(1, image_count + 1):
        height, width = int(rng.integers(64, 321)), int(rng.integers(64, 321))
        write_png(tmp_path / "src" / f"img{image_id}.png", rng.integers(0, 255, (height, width, 3), np.uint8))
        payload["images"].append({"id": image_id, "file_name": f"img{image_id}.png", "width": width,
                                  "height": height})
        if image_id == image_count:
            continue  # an image with no instances
        for k in range(3):
            bitmap = random_mask(rng, height, width)
            crowd = k == 2 and image_id % 2 == 0
            mask = Mask.from_coco(segmentation_of(bitmap, "rle" if crowd else encodings[k]), height, width)
            payload["annotations"].append({
                "id": len(payload["annotations"]) + 100, "image_id": image_id, "category_id": [3, 7][k % 2],
                "segmentation": segmentation_of(bitmap, "rle" if crowd else encodings[k]),
                "bbox": mask.bbox_xywh, "area": mask.area, "iscrowd": int(crowd)})
    return payload


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_coco_to_yolo_to_coco_keeps_every_instance_and_its_pixels(tmp_path):
    rng = np.random.default_rng(0)
    payload = make_coco(tmp_path, rng)
    source = coco_to_dataset(payload, tmp_path / "src")
    notes: list[str] = []

    written = write_yolo_seg(source, tmp_path / "yolo", notes=notes)
    back = dataset_to_coco(read_yolo_seg(tmp_path / "yolo"))

    assert written == len(payload["annotations"])
    assert len(back["annotations"]) == len(payload["annotations"])
    assert len(back["images"]) == len(payload["images"])  # the empty image too
    assert back["categories"] == [{"id": 3, "name": "cell", "supercategory": ""},
                                  {"id": 7, "name": "nucleus", "supercategory": ""}]
    crowd_ids = [a["id"] for a in payload["annotations"] if a["iscrowd"]]
    assert any(f"{len(crowd_ids)} crowd annotation(s)" in n and str(crowd_ids[0]) in n for n in notes)
    assert any("remapped to 0..K-1" in n for n in notes)
    back_by_name = {i["file_name"]: i for i in back["images"]}
    for image in payload["images"]:
        twin = back_by_name[f"train/{image['file_name']}"]
        originals = [a for a in payload["annotations"] if a["image_id"] == image["id"]]
        copies = [a for a in back["annotations"] if a["image_id"] == twin["id"]]
        assert [a["category_id"] for a in copies] == [a["category_id"] for a in originals]
        for original, copy in zip(originals, copies):
            h, w = image["height"], image["width"]
            expected = Mask.from_coco(original["segmentation"], h, w)
            assert expected.num_parts() > 1
            assert iou(expected.to_bitmap(), Mask.from_coco(copy["segmentation"], h, w).to_bitmap()) >= 0.98


def test_holes_survive_the_single_polygon(tmp_path):
    ring = np.zeros((80, 90), bool)
    ring[10:70, 10:80] = True
    ring[30:50, 30:60] = False
    ring[72:78, 2:8] = True  # a second part
    write_png(tmp_path / "src" / "a.png", np.zeros((80, 90, 3), np.uint8))
    payload = {"images": [{"id": 1, "file_name": "a.png", "width": 90, "height": 80}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 1, 1],
                                "segmentation": Mask.from_bitmap(ring).to_rle()}],
               "categories": [{"id": 1, "name": "ring"}]}
    write_yolo_seg(coco_to_dataset(payload, tmp_path / "src"), tmp_path / "yolo", notes=[])

    lines = (tmp_path / "yolo" / "labels" / "train" / "a.txt").read_text().splitlines()
    mask = read_yolo_seg(tmp_path / "yolo").images[0].annotations[0].mask
    assert len(lines) == 1
    assert mask.has_holes() and mask.num_parts() == 2
    assert np.array_equal(mask.to_bitmap(), ring)


def test_writer_links_images_leaves_source_alone_and_writes_ultralytics_yaml(tmp_path):
    payload = make_coco(tmp_path, np.random.default_rng(1), image_count=2)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "src").iterdir()}

    write_yolo_seg(coco_to_dataset(payload, tmp_path / "src"), tmp_path / "yolo", split="val", notes=[])

    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (tmp_path / "src").iterdir()} == before
    assert (tmp_path / "yolo/images/val/img1.png").read_bytes() == (tmp_path / "src/img1.png").read_bytes()
    config = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert config["path"] == str((tmp_path / "yolo").resolve())
    assert (config["train"], config["val"]) == ("images/val", "images/val")
    assert config["names"] == {0: "cell", 1: "nucleus"}
    assert (tmp_path / "yolo/labels/val/img2.txt").read_text() == ""  # the empty image


def test_box_only_scored_and_empty_annotations_are_reported(tmp_path):
    write_png(tmp_path / "src" / "a.png", np.zeros((40, 50, 3), np.uint8))
    empty_rle = Mask.from_bitmap(np.zeros((40, 50), bool)).to_rle()
    payload = {"images": [{"id": 1, "file_name": "a.png", "width": 50, "height": 40}],
               "annotations": [
                   {"id": 5, "image_id": 1, "category_id": 0, "bbox": [10, 5, 20, 10], "iscrowd": 0},
                   {"id": 6, "image_id": 1, "category_id": 0, "bbox": [0, 0, 0, 0], "iscrowd": 0,
                    "segmentation": empty_rle},
                   {"id": 7, "image_id": 1, "category_id": 0, "bbox": [1, 1, 4, 4], "iscrowd": 0,
                    "score": 0.5,
                    "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]}],
               "categories": [{"id": 0, "name": "box"}]}
    notes: list[str] = []

    written = write_yolo_seg(coco_to_dataset(payload, tmp_path / "src"), tmp_path / "yolo", notes=notes)

    assert written == 2
    assert any("without segmentation written as their box rectangle (ids 5)" in n for n in notes)
    assert any("empty mask" in n and "ids 6" in n for n in notes)
    assert any("1 score(s) dropped" in n for n in notes)
    assert not any("remapped" in n for n in notes)  # id 0 already is class 0
    box = read_yolo_seg(tmp_path / "yolo").images[0].annotations[0]
    assert box.bbox == [10.0, 5.0, 20.0, 10.0] and box.area == 200


def write_yolo_folder(root: Path, labels: dict[str, str | None], names=("a", "b")) -> None:
    """images/train/NAME.png (20x10) for every key; labels/train/NAME.txt unless the value is None."""
    for name, text in labels.items():
        write_png(root / "images" / "train" / f"{name}.png", np.zeros((10, 20, 3), np.uint8))
        if text is not None:
            (root / "labels" / "train").mkdir(parents=True, exist_ok=True)
            (root / "labels" / "train" / f"{name}.txt").write_text(text)
    (root / "data.yaml").write_text(yaml.safe_dump({"names": list(names)}))


def test_images_without_label_file_or_with_empty_one_are_kept(tmp_path):
    write_yolo_folder(tmp_path, {"none": None, "empty": "", "one": "1 0 0 1 0 1 1 0 1\n\n"})
    (tmp_path / "labels" / "train" / "lost.txt").write_text("0 0 0 1 0 1 1\n")
    notes: list[str] = []

    dataset = read_yolo_seg(tmp_path / "data.yaml", notes=notes)

    counts = {image.file_name: len(image.annotations) for image in dataset.images}
    assert counts == {"train/empty.png": 0, "train/none.png": 0, "train/one.png": 1}
    one = next(i for i in dataset.images if i.file_name == "train/one.png")
    assert (one.width, one.height) == (20, 10)
    assert one.annotations[0].category_id == 2 and one.annotations[0].area == 200
    assert [(c.id, c.name) for c in dataset.categories] == [(1, "a"), (2, "b")]
    assert len(notes) == 1 and notes[0].startswith("1 label file(s) have no image") and "lost.txt" in notes[0]


def test_names_may_be_a_mapping_and_near_edge_coordinates_are_clipped(tmp_path):
    write_yolo_folder(tmp_path, {"x": "0 -0.0004 0 1.0004 0 1 1\n"})
    (tmp_path / "data.yaml").write_text("names:\n  0: thing\n")

    annotation = read_yolo_seg(tmp_path).images[0].annotations[0]

    assert annotation.mask.polygons == ((0.0, 0.0, 20.0, 0.0, 20.0, 10.0),)


@pytest.mark.parametrize("line, message", [
    ("0 0.1 0.1 0.5 0.5 0.9", "odd number of coordinates (5)"),
    ("0 0.1 0.1 0.5 0.5", "look like a detection box"),
    ("0 0.1 0.1 0.5 0.5 0.2 0.3 0.4 0.4 0.1", "odd number"),
    ("0 0.1 0.1", "at least 3 points; got 1"),
    ("0 0.1 x 0.5 0.5 0.9 0.9", "coordinate 'x' is not a number"),
    ("cat 0.1 0.1 0.5 0.5 0.9 0.9", "class 'cat' is not a number"),
    ("1.5 0.1 0.1 0.5 0.5 0.9 0.9", "class '1.5' is not an integer"),
    ("2 0.1 0.1 0.5 0.5 0.9 0.9", "class 2 is not in data.yaml names (0..1)"),
    ("0 0.1 0.1 0.5 1.2 0.9 0.9", "coordinate 1.2 is outside [0, 1]"),
    ("0 0.1 0.1 0.5 nan 0.9 0.9", "finite"),
])
def test_bad_lines_are_named_by_file_and_line(tmp_path, line, message):
    write_yolo_folder(tmp_path, {"good": "0 0 0 1 0 1 1\n", "bad": f"0 0 0 1 0 1 1\n\n{line}\n"})

    with pytest.raises(DatasetError) as raised:
        read_yolo_seg(tmp_path)

    assert f"{tmp_path / 'labels' / 'train' / 'bad.txt'}:3: " in str(raised.value)
    assert message in str(raised.value)


def test_every_bad_line_is_listed_at_once(tmp_path):
    write_yolo_folder(tmp_path, {"a": "0 0.1\n5 0 0 1 0 1 1\n", "b": "0 0 0 1\n"})

    with pytest.raises(DatasetError, match=r"3 problem\(s\)") as raised:
        read_yolo_seg(tmp_path)

    assert all(where in str(raised.value) for where in ("a.txt:1:", "a.txt:2:", "b.txt:1:"))


def test_missing_names_and_missing_folder_are_clear(tmp_path):
    with pytest.raises(DatasetError, match="no such YOLO-seg dataset"):
        read_yolo_seg(tmp_path / "nowhere")
    write_yolo_folder(tmp_path, {"a": ""})
    (tmp_path / "data.yaml").write_text("nc: 2\n")
    with pytest.raises(DatasetError, match="data.yaml: field names"):
        read_yolo_seg(tmp_path)
    (tmp_path / "data.yaml").unlink()
    with pytest.raises(DatasetError, match="expected one data.yaml"):
        read_yolo_seg(tmp_path)


def test_writer_refuses_images_that_would_share_a_label_file(tmp_path):
    for suffix in ("png", "bmp"):
        cv2.imwrite(str(tmp_path / f"a.{suffix}"), np.zeros((4, 4, 3), np.uint8))
    payload = {"images": [{"id": 1, "file_name": "a.png", "width": 4, "height": 4},
                          {"id": 2, "file_name": "a.bmp", "width": 4, "height": 4}],
               "annotations": [], "categories": [{"id": 1, "name": "x"}]}

    with pytest.raises(DatasetError, match="image ids 1 and 2 would share the label file"):
        write_yolo_seg(coco_to_dataset(payload, tmp_path), tmp_path / "yolo", notes=[])
    assert not (tmp_path / "yolo").exists()


def test_images_are_copied_so_editing_an_output_never_changes_the_source(tmp_path):
    payload = make_coco(tmp_path, np.random.default_rng(2), image_count=1)
    write_yolo_seg(coco_to_dataset(payload, tmp_path / "src"), tmp_path / "yolo", notes=[])
    source, copy = tmp_path / "src/img1.png", tmp_path / "yolo/images/train/img1.png"
    original = source.read_bytes()
    assert copy.read_bytes() == original and not os.path.samefile(source, copy)
    copy.write_bytes(b"edited")
    assert source.read_bytes() == original


def test_windows_line_ends_and_byte_order_mark_are_read(tmp_path):
    write_yolo_folder(tmp_path, {"a": "\ufeff0 0 0 1 0 1 1\r\n1 0 0 0.5 0 0.5 1 0 1\r\n"})

    annotations = read_yolo_seg(tmp_path).images[0].annotations

    assert [(a.category_id, a.area) for a in annotations] == [(1, 100), (2, 100)]


def test_polygons_reaching_outside_the_image_keep_their_inside_pixels(tmp_path):
    write_png(tmp_path / "src" / "a.png", np.zeros((40, 60, 3), np.uint8))
    triangle = [-30.0, 5.0, 50.0, 5.0, 50.0, 60.0]  # crosses the left and bottom edges
    payload = {"images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                                "bbox": [0, 5, 50, 35], "segmentation": [triangle]}],
               "categories": [{"id": 1, "name": "x"}]}
    write_yolo_seg(coco_to_dataset(payload, tmp_path / "src"), tmp_path / "yolo", notes=[])

    values = [float(v) for v in (tmp_path / "yolo/labels/train/a.txt").read_text().split()[1:]]
    mask = read_yolo_seg(tmp_path / "yolo").images[0].annotations[0].mask

    assert 0.0 <= min(values) and max(values) <= 1.0
    assert np.array_equal(mask.to_bitmap(), Mask.from_polygons([triangle], 40, 60).to_bitmap())
