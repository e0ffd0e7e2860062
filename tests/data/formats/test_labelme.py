"""LabelMe: every shape kind with area, group_id merging, labels files, and errors naming file and shape."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from instaseg.data.formats.labelme import read_labelme
from instaseg.data.images import write_png
from instaseg.errors import DatasetError


def polygon(label, points, group_id=None, shape_type="polygon", **extra):
    return {"label": label, "points": points, "group_id": group_id, "shape_type": shape_type, "flags": {},
            **extra}


def png_base64(bitmap: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(bitmap.astype(np.uint8) * 255).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_labelme(json_path: Path, shapes: list, image: str = "a.png", size=(60, 80), **fields) -> None:
    """A LabelMe file for an (H, W) = size image at ``image`` (relative to the JSON), written too."""
    image_path = json_path.parent / image
    write_png(image_path, np.zeros((*size, 3), np.uint8))
    document = {"version": "5.5.0", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": None,
                "imageHeight": size[0], "imageWidth": size[1], **fields}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document))


def test_polygon_rectangle_circle_and_mask_shapes_become_instances(tmp_path):
    local = np.zeros((5, 6), bool)
    local[1:4, 2:5] = True  # 9 pixels
    write_labelme(tmp_path / "a.json", [
        polygon("cat", [[10, 10], [30, 10], [30, 20]]),
        polygon("dog", [[40, 5], [50, 15]], shape_type="rectangle"),
        polygon("dog", [[20, 40], [30, 40]], shape_type="circle"),
        polygon("cat", [[60.7, 30.2], [65, 34]], shape_type="mask", mask=png_base64(local)),
    ])

    dataset = read_labelme(tmp_path)

    assert [(c.id, c.name) for c in dataset.categories] == [(1, "cat"), (2, "dog")]
    image = dataset.images[0]
    assert (image.file_name, image.width, image.height) == ("a.png", 80, 60)
    triangle, rectangle, circle, mask = image.annotations
    assert triangle.mask.polygons == ((10.0, 10.0, 30.0, 10.0, 30.0, 20.0),)
    assert rectangle.area == 100 and rectangle.bbox == [40.0, 5.0, 10.0, 10.0]
    assert abs(circle.area - math.pi * 100) < 0.03 * math.pi * 100
    assert mask.area == 9 and mask.bbox == [62.0, 31.0, 3.0, 3.0]  # placed at the truncated first point
    assert [a.category_id for a in image.annotations] == [1, 2, 2, 1]


def test_group_id_merges_shapes_of_the_same_label(tmp_path):
    write_labelme(tmp_path / "a.json", [
        polygon("cat", [[0, 0], [10, 0], [10, 10], [0, 10]], group_id=1),
        polygon("cat", [[20, 0], [30, 0], [30, 10], [20, 10]], group_id=1),
        polygon("dog", [[40, 0], [50, 0], [50, 10], [40, 10]], group_id=1),
        polygon("cat", [[0, 30], [10, 30], [10, 40], [0, 40]]),
    ])

    annotations = read_labelme(tmp_path).images[0].annotations

    assert [(a.category_id, a.area) for a in annotations] == [(1, 200), (2, 100), (1, 100)]
    assert annotations[0].mask.num_parts() == 2


def test_unsupported_shapes_are_warned_about_by_file_and_index(tmp_path):
    write_labelme(tmp_path / "a.json", [
        polygon("cat", [[0, 0], [10, 0], [10, 10]]),
        polygon("road", [[0, 0], [10, 10]], shape_type="line"),
        polygon("eye", [[5, 5]], shape_type="point"),
    ])
    notes: list[str] = []

    dataset = read_labelme(tmp_path, notes=notes)

    assert dataset.num_annotations == 1
    file = tmp_path / "a.json"
    assert notes == [f"{file}: shapes[1] (label 'road'): shape_type 'line' has no area; skipped",
                     f"{file}: shapes[2] (label 'eye'): shape_type 'point' has no area; skipped"]
    with pytest.warns(UserWarning) as raised:  # no list given: the warnings must still reach the user
        read_labelme(tmp_path)
    assert [str(w.message) for w in raised] == notes


def test_image_paths_resolve_from_each_json_and_share_one_root(tmp_path):
    write_labelme(tmp_path / "json" / "a.json", [], image="../images/a.png")
    write_labelme(tmp_path / "json" / "deeper" / "b.json", [], image="../../images/sub/b.png")

    dataset = read_labelme(tmp_path / "json")

    assert dataset.image_root == (tmp_path / "images").resolve()
    assert sorted(i.file_name for i in dataset.images) == ["a.png", "sub/b.png"]
    assert all(dataset.image_path(i).is_file() for i in dataset.images)


def test_labels_file_fixes_ids_and_rejects_unknown_labels(tmp_path):
    write_labelme(tmp_path / "data" / "a.json", [polygon("dog", [[0, 0], [9, 0], [9, 9]]),
                                                 polygon("cat", [[0, 0], [9, 0], [0, 9]])])
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ndog\ncat\nbird\n")

    dataset = read_labelme(tmp_path / "data", labels=tmp_path / "labels.txt")

    assert [(c.id, c.name) for c in dataset.categories] == [(1, "dog"), (2, "cat"), (3, "bird")]
    assert [a.category_id for a in dataset.images[0].annotations] == [1, 2]
    (tmp_path / "labels.json").write_text(json.dumps({"cat": 7}))
    with pytest.raises(DatasetError, match=r"a.json: shapes\[0\]: field label: 'dog' is not in the labels"):
        read_labelme(tmp_path / "data", labels=tmp_path / "labels.json")


@pytest.mark.parametrize("shape, message", [
    (polygon("cat", [[0, 0], [5, 5]]), r"shapes\[1\] \(polygon\): field points: a polygon needs at least 3"),
    (polygon("cat", [[0, 0]], shape_type="rectangle"), r"shapes\[1\] \(rectangle\): .*needs 2 points, got 1"),
    (polygon("cat", [[0, "x"], [1, 2], [3, 4]]), r"shapes\[1\] \(polygon\): field points: expected"),
    (polygon("cat", [[0, 0], [4, 4]], shape_type="mask", mask="not base64!"),
     r"shapes\[1\] \(mask\): field mask: not a base64-encoded PNG"),
    ({"points": [[0, 0], [5, 0], [5, 5]]}, r"shapes\[1\]: field label: missing"),
])
def test_bad_shapes_are_named_by_file_index_and_field(tmp_path, shape, message):
    write_labelme(tmp_path / "a.json", [polygon("cat", [[0, 0], [5, 0], [5, 5]]), shape])

    with pytest.raises(DatasetError, match=message) as raised:
        read_labelme(tmp_path)

    assert str(tmp_path / "a.json") in str(raised.value)


def test_bad_files_are_named_with_the_field(tmp_path):
    write_labelme(tmp_path / "a.json", [], size=(60, 80), imageHeight=61)
    write_labelme(tmp_path / "b.json", [], image="b.png")
    (tmp_path / "b.png").unlink()
    (tmp_path / "c.json").write_text("{not json")
    (tmp_path / "d.json").write_text(json.dumps({"shapes": []}))
    (tmp_path / "e.json").write_text(json.dumps({"categories": []}))

    with pytest.raises(DatasetError) as raised:
        read_labelme(tmp_path)

    message = str(raised.value)
    assert "5 problem(s)" in message
    assert "a.json: fields imageHeight/imageWidth say 80x61 (WxH) but a.png is 80x60" in message
    assert "b.json: field imagePath:" in message and "b.png: image file not found" in message
    assert "c.json: not valid JSON" in message
    assert "d.json: field imagePath: missing" in message
    assert "e.json: field shapes: missing; not a LabelMe file" in message
