"""Strict COCO validation: located messages, every problem reported, no false positives, clean fixes."""

from __future__ import annotations

import copy
import json
import time

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image
from pycocotools import mask as mask_utils

from instaseg.data.formats.coco import dataset_to_coco
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.data.validation import (CheckReport, Problem, check_coco, check_payload, fix_coco,
                                      load_checked_coco, repair_coco)
from instaseg.structures.rle_strings import compressed_rle_totals
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask
from instaseg.utils.files import atomic_write_json

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# Random valid datasets -------------------------------------------------------------------------------

@st.composite
def bitmaps(draw, height: int, width: int) -> np.ndarray:
    """A non-empty (H, W) mask: a rectangle or an ellipse, sometimes with a hole."""
    bitmap = np.zeros((height, width), np.uint8)
    top, left = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
    bottom, right = draw(st.integers(top, height - 1)), draw(st.integers(left, width - 1))
    if draw(st.booleans()):
        bitmap[top:bottom + 1, left:right + 1] = 1
    else:
        center = ((left + right) // 2, (top + bottom) // 2)
        cv2.ellipse(bitmap, center, ((right - left) // 2, (bottom - top) // 2), 0, 0, 360, 1, -1)
    if bottom - top > 3 and right - left > 3 and draw(st.booleans()):
        bitmap[(top + bottom) // 2, (left + right) // 2] = 0
    return bitmap.astype(bool)


def _encode(bitmap: np.ndarray, encoding: str) -> Mask:
    mask = Mask.from_bitmap(bitmap)
    if encoding == "polygons":
        return Mask.from_polygons(mask.to_polygons(), *bitmap.shape)
    if encoding == "uncompressed":
        return Mask.from_rle(mask.to_uncompressed_rle())
    return Mask.from_rle(mask.to_rle()) if encoding == "rle" else mask


@st.composite
def coco_payloads(draw, min_annotations: int = 0) -> dict:
    """A valid COCO dict made by the toolkit's own writers: every mask encoding, crowds, empty images."""
    category_ids = draw(st.lists(st.integers(1, 1000), min_size=1, max_size=3, unique=True))
    categories = [Category(cid, f"class {cid}") for cid in category_ids]
    images, next_id = [], draw(st.integers(1, 50))
    for image_id in draw(st.lists(st.integers(1, 10_000), min_size=1, max_size=4, unique=True)):
        height, width = draw(st.integers(4, 28)), draw(st.integers(4, 28))
        wanted = draw(st.integers(max(min_annotations - len(images), 0) if not images else 0, 3))
        annotations = []
        for _ in range(wanted):
            encoding = draw(st.sampled_from(["polygons", "rle", "uncompressed", "bitmap"]))
            mask = _encode(draw(bitmaps(height, width)), encoding)
            annotations.append(Annotation.from_mask(next_id, draw(st.sampled_from(category_ids)), mask,
                                                    iscrowd=draw(st.booleans())))
            next_id += draw(st.integers(1, 3))
        images.append(ImageRecord(image_id, f"{image_id}.png", width, height, annotations))
    payload = dataset_to_coco(InstanceDataset(images, categories, info={"info": {"description": "random"}}))
    return json.loads(json.dumps(payload))  # plain JSON types, as a file would give


@FAST
@given(payload=coco_payloads())
def test_valid_random_datasets_have_no_problems(payload):
    report = check_payload(payload)
    assert report.problems == []


@FAST
@given(data=st.data(), height=st.integers(6, 120), width=st.integers(6, 120))
def test_coco_style_polygons_with_vertex_boxes_and_geometric_areas_pass(data, height, width):
    """COCO stores a polygon's vertex box and geometric area, unlike the drawn pixels' at thin tips."""
    point = st.tuples(st.floats(0, width, allow_nan=False), st.floats(0, height, allow_nan=False))
    points = np.array(data.draw(st.lists(point, min_size=3, max_size=8)), np.float32)
    hull = cv2.convexHull(points).reshape(-1, 2).astype(np.float64)  # (K, 2)
    polygon = hull.ravel().tolist()
    xs, ys = hull[:, 0], hull[:, 1]
    area = 0.5 * abs(float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1))))
    assume(len(hull) >= 3 and area >= 1.0)
    assume(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects([polygon], height, width))) > 0)
    payload = {"images": [{"id": 1, "file_name": "a.png", "width": width, "height": height}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [polygon],
                                "area": area, "iscrowd": 0,
                                "bbox": [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()]}],
               "categories": [{"id": 1, "name": "thing"}]}
    assert check_payload(payload).problems == []


# Problems are located and formatted ------------------------------------------------------------------

def test_problem_formats_file_record_field_and_message():
    problem = Problem("train.json", image_id=3, annotation_id=17, field="segmentation",
                      message="polygon 0 has 2 points; needs at least 3", section="annotations", index=4)
    assert str(problem) == ("train.json: annotation 17 (image 3): segmentation: polygon 0 has 2 points; "
                            "needs at least 3")
    warning = Problem("train.json", image_id=3, field="file_name", message="shared", severity="warning",
                      section="images", index=0)
    assert str(warning) == "train.json: image 3: warning: file_name: shared"
    no_id = Problem("train.json", field="id", message="missing", section="annotations", index=4)
    assert str(no_id) == "train.json: annotations[4]: id: missing"
    json_error = Problem("train.json", message="invalid JSON: Expecting value", line=3, column=7)
    assert str(json_error) == "train.json: line 3, column 7: invalid JSON: Expecting value"


def _base_payload() -> dict:
    mask = Mask.from_bitmap(np.pad(np.ones((4, 5), bool), ((2, 4), (3, 2))))  # (10, 10)
    return {"images": [{"id": 1, "file_name": "a.png", "width": 10, "height": 10},
                       {"id": 2, "file_name": "b.png", "width": 10, "height": 10}],
            "annotations": [{"id": i, "image_id": 1 + i % 2, "category_id": 1, "segmentation": mask.to_rle(),
                             "bbox": mask.bbox_xywh, "area": float(mask.area), "iscrowd": 0}
                            for i in range(1, 5)],
            "categories": [{"id": 1, "name": "cell"}]}


def test_every_problem_is_reported_with_its_record_not_only_the_first():
    payload = _base_payload()
    payload["annotations"][0]["segmentation"] = [[1, 1, 4, 4]]
    payload["annotations"][1]["bbox"] = [0, 0, 30, 2]
    payload["annotations"][2]["category_id"] = 5
    payload["annotations"][3]["id"] = "4"
    payload["images"][1]["width"] = -3
    report = check_payload(payload, "train.json")
    found = {(p.section, p.image_id, p.annotation_id, p.field, p.code) for p in report.errors}
    assert found == {
        ("annotations", 2, 1, "segmentation", "polygon-too-few-points"),
        ("annotations", 1, 2, "bbox", "bbox-outside-image"),
        ("annotations", 2, 3, "category_id", "category-unknown"),
        ("annotations", 1, None, "id", "integer-invalid"),
        ("images", 2, None, "width", "size-invalid"),
    }
    assert not report.ok and report.warnings == []
    assert report.images_with_problems() == 2
    assert report.summary() == ("train.json: 5 errors, 0 warnings in 2 of 2 images "
                                "(4 annotations, 1 categories)")


def test_nan_and_infinity_are_found_in_known_and_extra_fields():
    payload = _base_payload()
    payload["annotations"][0]["area"] = float("nan")
    payload["annotations"][1]["attributes"] = {"depth": [1.0, float("inf")]}
    payload["info"] = {"scale": float("-inf")}
    report = check_payload(payload)
    fields = {(p.annotation_id, p.field, p.code) for p in report.errors}
    assert fields == {(1, "area", "area-invalid"), (2, "attributes.depth[1]", "extra-non-finite"),
                      (None, "info.scale", "extra-non-finite")}
    assert all("NaN and Infinity are not valid JSON" in p.message for p in report.errors)


def test_nan_literals_in_a_file_are_reported_and_fixed_into_valid_json(tmp_path):
    payload = _base_payload()
    payload["annotations"][1]["attributes"] = {"depth": float("nan")}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(payload))  # Python writes a bare NaN
    report = check_coco(path, check_images=False)
    assert [(p.field, p.code) for p in report.errors] == [("attributes.depth", "extra-non-finite")]
    clean, dropped = fix_coco(report)
    assert dropped == [] and clean["annotations"][1]["attributes"] == {"depth": None}
    atomic_write_json(tmp_path / "clean.json", clean)  # would raise on NaN
    assert check_coco(tmp_path / "clean.json", check_images=False).problems == []


def test_integral_float_ids_are_errors_that_fix_turns_into_ints():
    payload = _base_payload()
    payload["annotations"][0]["image_id"] = 1.0
    payload["images"][0]["width"] = 10.0
    report = check_payload(payload)
    assert {(p.field, p.code) for p in report.errors} == {("image_id", "integer-float"),
                                                          ("width", "integer-float")}
    assert "must be an integer; got 1.0" in str(report.errors[-1]) + str(report.errors[0])
    clean, dropped = fix_coco(report)
    assert dropped == []
    assert type(clean["annotations"][0]["image_id"]) is int and type(clean["images"][0]["width"]) is int
    assert check_payload(clean).problems == []


# Compressed RLE strings --------------------------------------------------------------------------------

@FAST
@given(data=st.data(), height=st.integers(1, 40), width=st.integers(1, 40), count=st.integers(1, 6))
def test_compressed_rle_totals_cover_every_pixel_of_pycocotools_strings(data, height, width, count):
    density = data.draw(st.floats(0, 1))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    strings = [mask_utils.encode(np.asfortranarray(rng.random((height, width)) < density).astype(np.uint8))
               ["counts"] for _ in range(count)]
    totals, malformed = compressed_rle_totals(strings + [s.decode() for s in strings])
    assert malformed == {}
    assert totals.tolist() == [height * width] * (2 * count)


def test_compressed_rle_totals_name_what_is_malformed_without_touching_pycocotools():
    good = mask_utils.encode(np.asfortranarray(np.eye(6, dtype=np.uint8)))["counts"].decode()
    totals, malformed = compressed_rle_totals([good, "0 1", good + "o", "oooooooo1", "0@", good[:-1], ""])
    assert totals[0] == 36 and totals[5] not in (36, -1) and totals[6] == 0
    assert "' ' at position 1" in malformed[1]
    assert "ends in the middle of a number" in malformed[2]
    assert "too large" in malformed[3]
    assert "negative run length" in malformed[4]
    assert set(malformed) == {1, 2, 3, 4} and all(totals[i] == -1 for i in malformed)


# Loading ---------------------------------------------------------------------------------------------

def test_load_checked_coco_lists_every_error_capped_with_totals(tmp_path):
    payload = _base_payload()
    payload["annotations"] = [dict(payload["annotations"][0], id=i, segmentation=[[1, 1, 5, 5]])
                              for i in range(1, 13)]
    payload["categories"][0]["name"] = ""
    path = tmp_path / "train.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(DatasetError) as raised:
        load_checked_coco(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: 13 errors, 0 warnings in 1 of 2 images")
    assert f"{path}: category 1: name: must be a non-empty string" in message
    assert message.count("polygon 0 has 2 points; needs at least 3") == 5
    assert "... and 7 more polygon-too-few-points problems (12 in all)" in message


def test_load_checked_coco_lets_warnings_through(tmp_path):
    payload = _base_payload()
    polygon = [3.0, 2.0, 8.0, 2.0, 8.0, 6.0, 3.0, 6.0]
    payload["annotations"][0].update(segmentation=[polygon], iscrowd=1)
    path = tmp_path / "train.json"
    path.write_text(json.dumps(payload))
    assert [p.code for p in check_coco(path, check_images=False).problems] == ["crowd-polygons"]
    dataset = load_checked_coco(path)
    crowd = {a.id: a for _, a in dataset.annotations()}[1]
    assert dataset.num_annotations == 4 and crowd.iscrowd and crowd.mask.kind == "polygons"
    assert dataset.image_root == tmp_path.resolve()


def test_missing_file_and_folder_raise(tmp_path):
    with pytest.raises(DatasetError, match="file not found"):
        check_coco(tmp_path / "absent.json")
    path = tmp_path / "train.json"
    path.write_text(json.dumps(_base_payload()))
    with pytest.raises(DatasetError, match="nowhere: image folder of train.json not found; pass --images DIR"):
        check_coco(path, tmp_path / "nowhere")


def test_image_sizes_are_compared_as_shown_after_exif_rotation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 10 wide x 6 high, shown 6 wide x 10 high
    Image.new("RGB", (10, 6)).save(tmp_path / "a.jpg", exif=exif.tobytes())
    Image.new("RGB", (10, 6)).save(tmp_path / "b.jpg")
    payload = {"images": [{"id": 1, "file_name": "a.jpg", "width": 6, "height": 10},
                          {"id": 2, "file_name": "b.jpg", "width": 6, "height": 10}],
               "annotations": [], "categories": []}
    report = check_payload(payload, "train.json", tmp_path)
    found = [(p.image_id, p.field, p.code) for p in report.problems]
    assert found == [(2, "width, height", "image-size-mismatch")]
    assert "declared width 6, height 10, but b.jpg is width 10, height 6" in report.problems[0].message


def test_ten_thousand_rle_annotations_check_in_a_couple_of_seconds():
    height, width, per_image = 120, 160, 10
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for image_id in range(1, 1001):
        images.append({"id": image_id, "file_name": f"{image_id}.png", "width": width, "height": height})
        stack = np.zeros((height, width, per_image), np.uint8, order="F")  # (H, W, N)
        for k in range(per_image):
            top, left = rng.integers(0, height - 20), rng.integers(0, width - 20)
            stack[top:top + rng.integers(2, 20), left:left + rng.integers(2, 20), k] = 1
        rles = mask_utils.encode(stack)
        for rle, box, area in zip(rles, mask_utils.toBbox(rles), mask_utils.area(rles), strict=True):
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": 1,
                                "segmentation": {"size": [height, width], "counts": rle["counts"].decode()},
                                "bbox": box.tolist(), "area": float(area), "iscrowd": 0})
    payload = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "cell"}]}
    started = time.perf_counter()
    report = check_payload(payload)
    elapsed = time.perf_counter() - started
    assert report.problems == [] and len(annotations) == 10_000
    assert elapsed < 3.0, f"checking 10,000 RLE annotations took {elapsed:.2f} s"


# Fixing ----------------------------------------------------------------------------------------------

def _first_annotated(payload: dict) -> dict:
    return payload["annotations"][0]


CORRUPTIONS = {
    "polygon with 2 points": lambda p: _first_annotated(p).update(segmentation=[[1.0, 1.0, 2.0, 2.0]]),
    "flat polygon": lambda p: _first_annotated(p).update(segmentation=[1.0, 1.0, 3.0, 1.0, 3.0, 3.0]),
    "box outside": lambda p: _first_annotated(p).update(bbox=[500.0, 0.0, 2.0, 2.0]),
    "negative box": lambda p: _first_annotated(p).update(bbox=[0.0, 0.0, 2.0, -2.0]),
    "box missing": lambda p: _first_annotated(p).pop("bbox", None),
    "area NaN": lambda p: _first_annotated(p).update(area=float("nan")),
    "area missing": lambda p: _first_annotated(p).pop("area", None),
    "unknown category": lambda p: _first_annotated(p).update(category_id=-1),
    "unknown image": lambda p: _first_annotated(p).update(image_id=-1),
    "string annotation id": lambda p: _first_annotated(p).update(id="x"),
    "duplicate annotation id": lambda p: p["annotations"].append(copy.deepcopy(_first_annotated(p))),
    "undecodable RLE": lambda p: _first_annotated(p).update(segmentation={"size": [4, 4], "counts": "#"}),
    "RLE too short": lambda p: _first_annotated(p).update(segmentation={"size": [4, 4], "counts": [3, 2]}),
    "iscrowd 2": lambda p: _first_annotated(p).update(iscrowd=2),
    "segmentation missing": lambda p: _first_annotated(p).pop("segmentation", None),
    "image width 0": lambda p: p["images"][0].update(width=0),
    "image without file_name": lambda p: p["images"][-1].pop("file_name", None),
    "duplicate image id": lambda p: p["images"].append(dict(p["images"][0], file_name="other.png")),
    "category without name": lambda p: p["categories"][0].pop("name", None),
    "float image id": lambda p: _first_annotated(p).update(image_id=float(_first_annotated(p)["image_id"])),
    "NaN attribute": lambda p: _first_annotated(p).update(attributes={"depth": float("nan")}),
}


@FAST
@given(payload=coco_payloads(min_annotations=1),
       names=st.lists(st.sampled_from(sorted(CORRUPTIONS)), min_size=1, max_size=4, unique=True))
def test_fix_output_of_corrupted_random_datasets_checks_clean(payload, names):
    original = copy.deepcopy(payload)
    for name in names:
        CORRUPTIONS[name](payload)
    report = check_payload(payload)
    assert report.errors, f"{names} went unnoticed"
    clean, dropped = fix_coco(report)
    assert check_payload(clean).errors == []
    assert len(clean["images"]) + len(clean["annotations"]) + len(clean["categories"]) + len(dropped) <= (
        len(payload["images"]) + len(payload["annotations"]) + len(payload["categories"]))
    # Images that had no annotation and were not corrupted stay.
    annotated = {a["image_id"] for a in original["annotations"]}
    untouched_empty = [image for image in original["images"][1:-1] if image["id"] not in annotated]
    assert all(image in clean["images"] for image in untouched_empty)


def test_fix_lists_each_dropped_record_with_its_reason_and_keeps_first_duplicates():
    payload = _base_payload()
    payload["annotations"][1]["id"] = 1  # duplicate of annotations[0]
    payload["annotations"][2]["image_id"] = 9
    payload["images"].append({"id": 3, "file_name": "c.png", "width": 10, "height": 10})  # no annotations
    payload["images"].append({"id": 4, "file_name": "d.png", "width": 10})  # no height
    result = repair_coco(check_payload(payload, "train.json"))
    assert result.dropped == [
        "image 4: height: missing",
        "annotation 1 (image 1): id: duplicate annotation id 1; annotations[0] has it too",
        "annotation 3 (image 9): image_id: image 9 does not exist",
    ]
    assert [a["id"] for a in result.payload["annotations"]] == [1, 4]
    assert [image["id"] for image in result.payload["images"]] == [1, 2, 3]


def test_fix_clips_boxes_and_recomputes_what_disagrees_with_the_mask():
    payload = _base_payload()
    mask_box = payload["annotations"][0]["bbox"]  # [3, 2, 5, 4]
    payload["annotations"][0]["bbox"] = [3.0, 2.0, 7.5, 4.0]  # 0.5 px past the right edge: clipped, kept
    payload["annotations"][1]["bbox"] = [-20.0, 2.0, 10.0, 4.0]  # far off: recomputed
    payload["annotations"][2]["area"] = 1000.0
    result = repair_coco(check_payload(payload))
    annotations = result.payload["annotations"]
    assert annotations[0]["bbox"] == [3.0, 2.0, 7.0, 4.0]
    assert annotations[1]["bbox"] == mask_box
    assert annotations[2]["area"] == 20.0
    assert result.changed == ["annotation 1 (image 2): bbox: clipped to the image",
                              "annotation 2 (image 1): bbox: clipped to the image",
                              "annotation 2 (image 1): bbox: computed from the mask",
                              "annotation 3 (image 2): area: computed from the mask"]


def test_fix_drops_only_the_polygons_that_cannot_be_drawn_and_clips_the_rest():
    payload = _base_payload()
    payload["annotations"][0]["segmentation"] = [[1, 1, 2, 2], [2.0, 2.0, 14.0, 2.0, 14.0, 6.0, 2.0, 6.0]]
    result = repair_coco(check_payload(payload))
    segmentation = result.payload["annotations"][0]["segmentation"]
    assert Mask.from_polygons(segmentation, 10, 10).to_bitmap()[2:6, 2:10].all()
    assert max(segmentation[0][0::2]) <= 10
    dropped_polygon = "annotation 1 (image 2): segmentation: dropped polygon 0 has 2 points; needs at least 3"
    assert dropped_polygon in result.changed
    assert check_payload(result.payload).problems == []


def test_fix_refuses_files_it_cannot_read_as_coco(tmp_path):
    path = tmp_path / "train.json"
    path.write_text('{"images": [], "annotations": []}')
    report = check_coco(path, check_images=False)
    with pytest.raises(DatasetError, match="cannot be fixed automatically: categories: missing"):
        fix_coco(report)
    assert isinstance(report, CheckReport) and report.fatal


# Robustness: any value anywhere -------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6)


def _paths(value, path=()):
    """Every (container path, key) in a JSON value, so that any field can be replaced."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        yield path, key
        yield from _paths(item, path + (key,))


@FAST
@given(payload=coco_payloads(min_annotations=1), data=st.data())
def test_any_value_anywhere_is_reported_never_raised_and_fix_checks_clean(payload, data):
    for _ in range(data.draw(st.integers(1, 3))):
        path, key = data.draw(st.sampled_from(list(_paths(payload))))
        container = payload
        for step in path:
            container = container[step]
        container[key] = data.draw(JSON_VALUES)
    report = check_payload(payload)
    for problem in report.problems:
        assert str(problem).startswith("<payload>: ")
    if report.fatal:
        with pytest.raises(DatasetError):
            fix_coco(report)
        return
    clean, _ = fix_coco(report)
    assert check_payload(clean).errors == []
