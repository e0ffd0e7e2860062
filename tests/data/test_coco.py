"""Round trips of COCO JSON through InstanceDataset: mask encodings, crowds, empty images, extra fields."""

from __future__ import annotations

import json

import numpy as np
import pytest

from instaseg.data.formats.coco import (coco_to_dataset, dataset_to_coco, default_image_root, read_coco,
                                        write_coco)
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.errors import DatasetError
from instaseg.structures.masks import Mask

HEIGHT, WIDTH = 24, 32


def _blob(top: int, left: int, height: int, width: int) -> np.ndarray:
    bitmap = np.zeros((HEIGHT, WIDTH), bool)  # (H, W)
    bitmap[top:top + height, left:left + width] = True
    bitmap[top + height // 2, left + width // 2] = False  # a hole, so tracing and RLE are not trivial
    return bitmap


def _payload(annotations: list[dict], images: list[dict] | None = None) -> dict:
    return {"info": {"description": "round trip", "year": 2024}, "licenses": [{"id": 1, "name": "CC-BY"}],
            "images": images or [{"id": 1, "file_name": "a.png", "width": WIDTH, "height": HEIGHT}],
            "annotations": annotations,
            "categories": [{"id": 7, "name": "cell", "supercategory": "biology"}]}


def _write(tmp_path, payload: dict):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(payload))
    return path


def _round_trip(tmp_path, dataset: InstanceDataset, mask_format: str = "keep") -> InstanceDataset:
    path = tmp_path / "out.json"
    write_coco(dataset, path, mask_format=mask_format)
    return read_coco(path, tmp_path)


def test_polygons_survive_a_round_trip_exactly(tmp_path):
    polygon = [2.0, 3.0, 20.0, 3.0, 20.0, 15.0, 2.0, 15.0]
    second = [22.5, 1.5, 30.0, 1.5, 26.0, 9.25]
    mask = Mask.from_polygons([polygon, second], HEIGHT, WIDTH)
    annotation = Annotation.from_mask(5, 7, mask)
    payload = _payload([{"id": 5, "image_id": 1, "category_id": 7, "segmentation": [polygon, second],
                         "bbox": annotation.bbox, "area": annotation.area, "iscrowd": 0}])
    dataset = read_coco(_write(tmp_path, payload), tmp_path)
    again = _round_trip(tmp_path, dataset)
    (image, loaded), = list(again.annotations())
    assert loaded.mask.kind == "polygons"
    assert loaded.mask.to_coco() == [polygon, second]
    assert loaded.bbox == annotation.bbox and loaded.area == annotation.area
    assert (loaded.id, loaded.category_id, image.id, loaded.iscrowd) == (5, 7, 1, False)
    assert np.array_equal(loaded.mask.to_bitmap(), mask.to_bitmap())


def test_compressed_rle_keeps_its_counts_string(tmp_path):
    mask = Mask.from_bitmap(_blob(4, 5, 10, 12))
    rle = mask.to_rle()
    annotation = Annotation.from_mask(1, 7, Mask.from_rle(rle))
    dataset = InstanceDataset([ImageRecord(1, "a.png", WIDTH, HEIGHT, [annotation])], [Category(7, "cell")])
    payload = dataset_to_coco(dataset)
    assert payload["annotations"][0]["segmentation"] == rle
    again = _round_trip(tmp_path, dataset)
    loaded = again.images[0].annotations[0]
    assert loaded.mask.to_rle() == rle
    assert np.array_equal(loaded.mask.to_bitmap(), mask.to_bitmap())
    assert loaded.area == float(mask.area) == float(_blob(4, 5, 10, 12).sum())


def test_uncompressed_rle_reads_as_the_same_mask(tmp_path):
    bitmap = _blob(0, 0, 8, 9)  # touches the corner: counts start with a zero-length background run
    uncompressed = Mask.from_bitmap(bitmap).to_uncompressed_rle()
    assert uncompressed["counts"][0] == 0
    mask = Mask.from_rle(uncompressed)
    payload = _payload([{"id": 1, "image_id": 1, "category_id": 7, "segmentation": uncompressed,
                         "bbox": mask.bbox_xywh, "area": float(mask.area), "iscrowd": 0}])
    dataset = read_coco(_write(tmp_path, payload), tmp_path)
    loaded = dataset.images[0].annotations[0].mask
    assert np.array_equal(loaded.to_bitmap(), bitmap)
    again = _round_trip(tmp_path, dataset).images[0].annotations[0].mask
    assert np.array_equal(again.to_bitmap(), bitmap)
    assert again.to_uncompressed_rle() == uncompressed


def test_crowd_annotations_keep_iscrowd_and_are_written_as_rle(tmp_path):
    polygon_mask = Mask.from_polygons([[1.0, 1.0, 12.0, 1.0, 12.0, 9.0]], HEIGHT, WIDTH)
    crowd = Annotation.from_mask(1, 7, polygon_mask, iscrowd=True)
    plain = Annotation.from_mask(2, 7, Mask.from_bitmap(_blob(12, 14, 8, 8)))
    dataset = InstanceDataset([ImageRecord(1, "a.png", WIDTH, HEIGHT, [crowd, plain])], [Category(7, "cell")])
    payload = dataset_to_coco(dataset)
    assert payload["annotations"][0]["iscrowd"] == 1
    assert isinstance(payload["annotations"][0]["segmentation"], dict)  # COCO wants RLE for crowds
    again = _round_trip(tmp_path, dataset)
    loaded_crowd, loaded_plain = again.images[0].annotations
    assert loaded_crowd.iscrowd and not loaded_plain.iscrowd
    assert np.array_equal(loaded_crowd.mask.to_bitmap(), polygon_mask.to_bitmap())


def test_images_without_annotations_are_kept_in_order(tmp_path):
    images = [{"id": 3, "file_name": "c.png", "width": WIDTH, "height": HEIGHT},
              {"id": 1, "file_name": "a.png", "width": WIDTH, "height": HEIGHT},
              {"id": 2, "file_name": "b.png", "width": WIDTH, "height": HEIGHT}]
    mask = Mask.from_bitmap(_blob(2, 2, 6, 6))
    payload = _payload([{"id": 1, "image_id": 1, "category_id": 7, "segmentation": mask.to_rle(),
                         "bbox": mask.bbox_xywh, "area": float(mask.area), "iscrowd": 0}], images)
    dataset = read_coco(_write(tmp_path, payload), tmp_path)
    assert [image.id for image in dataset] == [3, 1, 2]
    assert [len(image.annotations) for image in dataset] == [0, 1, 0]
    again = _round_trip(tmp_path, dataset)
    assert [(image.id, image.file_name, len(image.annotations)) for image in again] == [
        (3, "c.png", 0), (1, "a.png", 1), (2, "b.png", 0)]


def test_extra_fields_are_preserved_everywhere(tmp_path):
    mask = Mask.from_bitmap(_blob(3, 3, 7, 7))
    images = [{"id": 1, "file_name": "a.png", "width": WIDTH, "height": HEIGHT, "license": 1,
               "date_captured": "2024-05-01", "coco_url": "http://x/a.png"}]
    payload = _payload([{"id": 9, "image_id": 1, "category_id": 7, "segmentation": mask.to_rle(),
                         "bbox": mask.bbox_xywh, "area": float(mask.area), "iscrowd": 0, "score": 0.75,
                         "attributes": {"occluded": True, "track": [1, 2]}}], images)
    dataset = read_coco(_write(tmp_path, payload), tmp_path)
    written = dataset_to_coco(dataset)
    assert written["info"] == payload["info"] and written["licenses"] == payload["licenses"]
    assert written["images"] == images
    assert written["categories"] == payload["categories"]
    assert written["annotations"] == payload["annotations"]


def test_mask_format_rle_turns_polygons_into_rle(tmp_path):
    mask = Mask.from_polygons([[2.0, 2.0, 14.0, 2.0, 8.0, 12.0]], HEIGHT, WIDTH)
    dataset = InstanceDataset([ImageRecord(1, "a.png", WIDTH, HEIGHT, [Annotation.from_mask(1, 7, mask)])],
                              [Category(7, "cell")])
    assert isinstance(dataset_to_coco(dataset)["annotations"][0]["segmentation"], list)
    loaded = _round_trip(tmp_path, dataset, mask_format="rle").images[0].annotations[0].mask
    assert loaded.kind == "rle"
    assert np.array_equal(loaded.to_bitmap(), mask.to_bitmap())


def test_coco_to_dataset_fills_missing_box_and_area_from_the_mask():
    mask = Mask.from_bitmap(_blob(5, 6, 4, 9))
    payload = _payload([{"id": 1, "image_id": 1, "category_id": 7, "segmentation": mask.to_rle()}])
    annotation = coco_to_dataset(payload).images[0].annotations[0]
    assert annotation.bbox == mask.bbox_xywh == [6.0, 5.0, 9.0, 4.0]
    assert annotation.area == float(mask.area)


def test_read_coco_checks_the_file_first(tmp_path):
    payload = _payload([{"id": 1, "image_id": 1, "category_id": 99, "segmentation": [[1.0, 1.0, 5.0, 5.0]],
                         "bbox": [1, 1, 4, 4], "area": 8, "iscrowd": 0}])
    with pytest.raises(DatasetError) as raised:
        read_coco(_write(tmp_path, payload))
    message = str(raised.value)
    assert "annotation 1 (image 1): category_id: category 99 does not exist" in message
    assert "annotation 1 (image 1): segmentation: polygon 0 has 2 points; needs at least 3" in message


def test_default_image_root_prefers_an_images_folder(tmp_path):
    path = _write(tmp_path, _payload([]))
    assert default_image_root(path) == tmp_path.resolve()
    (tmp_path / "images").mkdir()
    assert default_image_root(path) == tmp_path.resolve() / "images"
    assert read_coco(path).image_root == tmp_path.resolve() / "images"
