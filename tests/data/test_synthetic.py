"""The synthetic benchmark: deterministic, exact visible masks, the variety the benchmark promises."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils

from instaseg.data.formats.coco import coco_to_dataset
from instaseg.data.images import read_image
from instaseg.data.synthetic import CLASS_NAMES, PRESETS, SynthConfig, generate_dataset, render_image
from instaseg.errors import InstasegError

SMALL = SynthConfig(train=6, val=3, size=96, seed=5)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """The same small dataset written twice in-process and once by two workers, plus another seed."""
    outputs = {}
    for name, config, workers in [("first", SMALL, 1), ("again", SMALL, 1), ("two_workers", SMALL, 2),
                                  ("other_seed", dataclasses.replace(SMALL, seed=6), 1)]:
        root = tmp_path_factory.mktemp(name)
        generate_dataset(config, root / "out", workers=workers, progress=False)
        outputs[name] = _files(root / "out")
    return outputs


def test_same_seed_gives_identical_bytes(written):
    assert written["first"] == written["again"]
    assert len([name for name in written["first"] if name.endswith(".png")]) == SMALL.train + SMALL.val


def test_worker_count_does_not_change_output(written):
    assert written["first"] == written["two_workers"]


def test_different_seed_changes_json_and_images(written):
    first, other = written["first"], written["other_seed"]
    assert first["train.json"] != other["train.json"]
    assert first["images/train/000001.png"] != other["images/train/000001.png"]


def test_written_coco_loads_back_and_matches_the_images(written, tmp_path):
    for name, data in written["first"].items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    for split, count in (("train", SMALL.train), ("val", SMALL.val)):
        dataset = coco_to_dataset(json.loads((tmp_path / f"{split}.json").read_text()), tmp_path / "images")
        assert len(dataset) == count
        assert [c.name for c in dataset.categories] == list(CLASS_NAMES)
        assert [c.id for c in dataset.categories] == list(range(1, len(CLASS_NAMES) + 1))
        annotation_ids = [a.id for _, a in dataset.annotations()]
        assert annotation_ids == list(range(1, len(annotation_ids) + 1))
        for image in dataset:
            assert image.file_name.startswith(f"{split}/")
            assert read_image(dataset.image_path(image)).shape == (SMALL.size, SMALL.size, 3)


def test_annotations_are_disjoint_nonempty_rle_with_pycocotools_boxes(written):
    payload = json.loads(written["first"]["train.json"])
    by_image: dict[int, list[dict]] = {}
    for annotation in payload["annotations"]:
        by_image.setdefault(annotation["image_id"], []).append(annotation)
    assert payload["annotations"], "the sample should hold some objects"
    for image_annotations in by_image.values():
        coverage = np.zeros((SMALL.size, SMALL.size), np.int32)
        for annotation in image_annotations:
            rle = annotation["segmentation"]
            assert isinstance(rle, dict) and isinstance(rle["counts"], str)
            compressed = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
            assert annotation["iscrowd"] == 0
            assert annotation["area"] == float(mask_utils.area(compressed))
            assert annotation["area"] >= SMALL.min_visible_pixels
            assert annotation["bbox"] == pytest.approx(mask_utils.toBbox(compressed).tolist())
            coverage += mask_utils.decode(compressed)
        assert coverage.max() == 1  # each pixel belongs to at most one (the visible, top-most) object


def test_scene_masks_are_pairwise_disjoint_and_above_the_visibility_threshold():
    config = SynthConfig(size=160, touching_fraction=1.0, empty_fraction=0.0)
    for index in range(8):
        scene = render_image(config, "train", index)
        assert scene.masks.shape[1:] == (160, 160) and len(scene.masks) == len(scene.category_ids)
        assert scene.masks.sum(axis=0).max() <= 1
        assert (scene.masks.sum(axis=(1, 2)) >= config.min_visible_pixels).all()


def test_mostly_hidden_objects_are_drawn_but_not_annotated():
    # The threshold does not touch the random stream, so both configs draw the very same images.
    keep_all = SynthConfig(size=160, empty_fraction=0.0, min_visible_pixels=1, min_visible_fraction=0.0)
    fully_visible = dataclasses.replace(keep_all, min_visible_fraction=1.0)
    dropped = 0
    for index in range(6):
        every, strict = render_image(keep_all, "train", index), render_image(fully_visible, "train", index)
        assert np.array_equal(every.image, strict.image)
        every_masks = {m.tobytes() for m in every.masks}
        assert all(m.tobytes() in every_masks for m in strict.masks)
        dropped += len(every.masks) - len(strict.masks)
    assert dropped > 0  # occlusion happens, and partly hidden objects lose their annotation


def test_every_class_appears_over_a_modest_sample():
    config = SynthConfig(size=128, empty_fraction=0.0)
    seen = {c for index in range(16) for c in render_image(config, "train", index).category_ids}
    assert seen == set(range(1, len(CLASS_NAMES) + 1))


def test_empty_images_follow_the_configured_rate():
    def empty_count(fraction: float) -> int:
        config = SynthConfig(size=64, empty_fraction=fraction, touching_fraction=0.0)
        return sum(not render_image(config, "train", index).category_ids for index in range(60))

    assert 18 <= empty_count(0.5) <= 42
    assert empty_count(0.0) <= 3  # only where every object happened to be hidden


def test_small_medium_and_large_all_present_at_320():
    config = SynthConfig(size=320)
    areas = np.concatenate([render_image(config, "val", index).masks.sum(axis=(1, 2)) for index in range(20)])
    assert (areas < 32 ** 2).sum() >= 20
    assert ((areas >= 32 ** 2) & (areas < 96 ** 2)).sum() >= 15
    assert (areas >= 96 ** 2).sum() >= 5


def test_touching_same_class_objects_are_generated():
    config = SynthConfig(size=160, touching_fraction=1.0, empty_fraction=0.0)
    kernel = np.ones((3, 3), np.uint8)
    touching_images = 0
    for index in range(12):
        scene = render_image(config, "train", index)
        ids = np.array(scene.category_ids)
        touching = any(
            (cv2.dilate(scene.masks[i].astype(np.uint8), kernel).astype(bool) & scene.masks[j]).any()
            for i in range(len(ids)) for j in range(i + 1, len(ids)) if ids[i] == ids[j])
        touching_images += touching
    assert touching_images >= 8


def test_overwrite_replaces_stale_images(tmp_path):
    out = tmp_path / "out"
    generate_dataset(dataclasses.replace(SMALL, train=3, val=1), out, workers=1, progress=False)
    with pytest.raises(InstasegError, match="not empty"):
        generate_dataset(SMALL, out, workers=1, progress=False)
    smaller = dataclasses.replace(SMALL, train=2, val=1)
    generate_dataset(smaller, out, workers=1, overwrite=True, progress=False)
    assert sorted(p.name for p in (out / "images" / "train").iterdir()) == ["000001.png", "000002.png"]


def test_bench_preset_is_fixed():
    bench = PRESETS["bench"]
    assert (bench.train, bench.val, bench.size, bench.seed) == (1000, 200, 320, 0)
    assert bench == SynthConfig(train=1000, val=200, size=320, seed=0)


@pytest.mark.parametrize("change", [{"size": 16}, {"train": -1}, {"empty_fraction": 1.5},
                                    {"max_instances": 0}, {"max_instances": 256}])
def test_bad_config_is_refused_naming_the_field(change):
    with pytest.raises(InstasegError, match=next(iter(change))):
        SynthConfig(**change)


def test_generation_from_a_script_without_main_guard_finishes(tmp_path):
    """Workers must not re-run the caller's script (spawn/forkserver would, and hang)."""
    import subprocess
    import sys

    script = tmp_path / "make.py"
    script.write_text("from instaseg.data.synthetic import SynthConfig, generate_dataset\n"
                      f"generate_dataset(SynthConfig(train=4, val=2, size=64), {str(tmp_path / 'out')!r}, "
                      "workers=2, progress=False)\nprint('made')\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("made") == 1
    assert (tmp_path / "out" / "train.json").is_file()
