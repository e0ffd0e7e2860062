"""``instaseg eval``: the printed stats equal pycocotools', the report is written, bad input is named."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from instaseg.cli.main import main

from ..evaluation.coco_cases import pycocotools_eval, random_case


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(21)
    ground_truth, results = random_case(rng)
    while len(results) < 8 or len(ground_truth["annotations"]) < 4:
        ground_truth, results = random_case(rng)
    (tmp_path / "gt.json").write_text(json.dumps(ground_truth))
    (tmp_path / "pred.json").write_text(json.dumps(results))
    return tmp_path, ground_truth, results


def test_prints_the_reference_stats_and_writes_the_report(files, capsys):
    folder, ground_truth, results = files
    out = folder / "report"
    assert main(["eval", "--gt", str(folder / "gt.json"), "--pred", str(folder / "pred.json"),
                 "--iou-type", "all", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    reference = pycocotools_eval(ground_truth, results, "segm").stats
    segm_line = next(line for line in printed.splitlines() if line.strip().startswith("segm "))
    assert [float(v) for v in segm_line.split()[1:]] == pytest.approx(np.round(reference, 4).tolist(), abs=1e-4)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"segm", "bbox", "boundary", "errors"}
    assert metrics["segm"]["stats"]["AP"] == pytest.approx(reference[0], abs=1e-12)
    assert "boundary_F1" in metrics["boundary"]
    for name in ("pr_curves_segm.png", "class_ap.png", "iou_histogram_segm.png", "errors.png", "confusion.png"):
        with Image.open(out / name) as picture:
            assert picture.size[0] > 300
    report = (out / "report.md").read_text()
    assert "| segm |" in report and "![Confusion matrix](confusion.png)" in report
    assert "<table>" in (out / "report.html").read_text()


def test_refuses_a_non_empty_out_folder(files, capsys):
    folder, _, _ = files
    (folder / "keep.txt").write_text("mine")
    assert main(["eval", "--gt", str(folder / "gt.json"), "--pred", str(folder / "pred.json"),
                 "--out", str(folder)]) == 2
    assert "not empty" in capsys.readouterr().err and (folder / "keep.txt").read_text() == "mine"


@pytest.mark.parametrize("payload, message", [
    ('[{"image_id": 1}', "invalid JSON"),
    ('{"a": 1}', "expected a JSON list of COCO results"),
    ('[{"image_id": 123456, "category_id": 1, "segmentation": [[0,0,1,0,1,1]], "score": 0.5}]',
     "record 0, field 'image_id': image 123456 is not in the ground truth"),
])
def test_bad_results_are_named(files, capsys, payload, message):
    folder, _, _ = files
    (folder / "bad.json").write_text(payload)
    assert main(["eval", "--gt", str(folder / "gt.json"), "--pred", str(folder / "bad.json")]) == 2
    error = capsys.readouterr().err
    assert "bad.json" in error and message in error and "Traceback" not in error


def test_bad_ground_truth_lists_its_problems(files, capsys):
    folder, _, _ = files
    (folder / "gt_bad.json").write_text(json.dumps({"images": [{"id": 1, "height": 5}], "annotations": [],
                                                     "categories": []}))
    assert main(["eval", "--gt", str(folder / "gt_bad.json"), "--pred", str(folder / "pred.json")]) == 2
    assert "gt_bad.json" in capsys.readouterr().err


def test_panoptic_mode(tmp_path, capsys):
    from instaseg.evaluation.panoptic import id_to_rgb

    ids = np.zeros((6, 6), dtype=np.int64)
    ids[:, :3], ids[:, 3:] = 1, 2
    categories = [{"id": 1, "name": "cell", "isthing": 1}, {"id": 2, "name": "dish", "isthing": 0}]
    segments = [{"id": 1, "category_id": 1, "iscrowd": 0, "area": 18},
                {"id": 2, "category_id": 2, "iscrowd": 0, "area": 18}]
    for name in ("gt", "pred"):
        (tmp_path / name).mkdir()
        Image.fromarray(id_to_rgb(ids)).save(tmp_path / name / "a.png")
        (tmp_path / f"{name}.json").write_text(json.dumps({"annotations": [
            {"image_id": 1, "file_name": "a.png", "segments_info": segments}], "categories": categories}))
    assert main(["eval", "--iou-type", "panoptic", "--gt", str(tmp_path / "gt.json"), "--pred",
                 str(tmp_path / "pred.json"), "--out", str(tmp_path / "out")]) == 0
    assert "All       100.00  100.00  100.00  2" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["panoptic"]["Things"]["PQ"] == 1.0
    (tmp_path / "pred" / "a.png").unlink()
    assert main(["eval", "--iou-type", "panoptic", "--gt", str(tmp_path / "gt.json"), "--pred",
                 str(tmp_path / "pred.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_a_checkpoint_is_evaluated_on_the_ground_truths_images(tiny_data, tmp_path, capsys):
    from instaseg.engine.config import TrainConfig
    from instaseg.engine.launch import train

    run = tmp_path / "run"
    light = {"rpn_pre_nms_train": 200, "rpn_post_nms_train": 100, "roi_batch_per_image": 32, "fpn_channels": 32,
             "mask_head_channels": 32, "box_head_fc": 64}
    train(TrainConfig(data=str(tiny_data["train"]), val=str(tiny_data["val"]), out=str(run), epochs=1,
                      image_size=64, batch_size=4, workers=0, model_options=light, model="mask_rcnn_mnv3_fpn"))
    capsys.readouterr()
    weights = run / "weights" / "best.safetensors"
    assert main(["eval", "--gt", str(tiny_data["val"]), "--weights", str(weights), "--out", str(tmp_path / "e")]) == 0
    printed = capsys.readouterr().out
    assert "segm:" in printed and "detections on 2 images" in printed
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    validated = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert metrics["segm"]["stats"]["AP"] == pytest.approx(validated["segm"]["AP"], abs=1e-9)
    # A missing image of the ground truth is named before anything is written.
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_data["val"].parent, copy)
    first = json.loads((copy / "val.json").read_text())["images"][0]["file_name"]
    (copy / "images" / first).unlink()
    assert main(["eval", "--gt", str(copy / "val.json"), "--weights", str(weights), "--out", str(tmp_path / "x")]) == 2
    assert "image files: 1 missing, of 2 images listed" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    # --pred and --weights: exactly one.
    with pytest.raises(SystemExit):
        main(["eval", "--gt", str(tiny_data["val"]), "--weights", str(weights), "--pred", "x.json"])
    assert "not allowed with argument" in capsys.readouterr().err
