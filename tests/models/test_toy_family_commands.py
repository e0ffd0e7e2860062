"""The proof that the model interface holds: the test-only toy family (``toy_family.py``), which nothing in
engine/ or inference/ knows, trains through ``instaseg train``, predicts through ``instaseg predict`` and is
scored through ``instaseg eval --weights``, all on the one prediction path validation uses."""

import json

import pytest

from instaseg.cli.main import main
from instaseg.engine.checkpoint import load_checkpoint
from instaseg.evaluation.coco import evaluate_coco

from .toy_family import NAME

pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args) -> int:
    return main([str(a) for a in args])


def test_the_toy_family_trains_predicts_and_is_evaluated_by_the_commands(tiny_data, tmp_path, capsys):
    train_dir = tmp_path / "run"
    assert run("train", "--model", NAME, "--model-option", "channels=12", "--data", tiny_data["train"],
               "--val", tiny_data["val"], "--out", train_dir, "--epochs", 4, "--img-size", 64, "--batch", 2,
               "--workers", 0, "--lr", 0.01, "--warmup", 2, "--eval-every", 0) == 0
    assert f"best segm/AP" in capsys.readouterr().out
    best = train_dir / "weights" / "best.safetensors"
    metadata = load_checkpoint(best).metadata
    assert metadata.model == NAME and metadata.task == "instance"
    assert metadata.model_config == {"channels": 12, "pixel_mean": [0.5] * 3, "pixel_std": [0.25] * 3}

    # instaseg predict --gt: every ground-truth image, results keyed by its ids.
    ground_truth = json.loads(tiny_data["val"].read_text())
    assert run("predict", "--weights", best, "--gt", tiny_data["val"], "--out", tmp_path / "pred",
               "--score-threshold", 0.001) == 0
    images = json.loads((tmp_path / "pred" / "images.json").read_text())["images"]
    assert [(i["id"], i["file_name"]) for i in images] == [(i["id"], i["file_name"]) for i in ground_truth["images"]]
    predicted = json.loads((tmp_path / "pred" / "results.json").read_text())
    assert predicted and {r["image_id"] for r in predicted} <= {i["id"] for i in ground_truth["images"]}

    # instaseg eval --weights scores the checkpoint as validation did: the same predictions, the same AP.
    assert run("eval", "--weights", best, "--gt", tiny_data["val"], "--out", tmp_path / "eval") == 0
    scored = json.loads((tmp_path / "eval" / "results.json").read_text())
    validated = json.loads((train_dir / "val_predictions.json").read_text())
    assert [(r["image_id"], r["category_id"], r["segmentation"]) for r in scored] == [
        (r["image_id"], r["category_id"], r["segmentation"]) for r in validated]
    assert [r["score"] for r in scored] == pytest.approx([r["score"] for r in validated], abs=1e-6)
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["segm"]["stats"]["AP"] == pytest.approx(metadata.metrics["segm"]["AP"], abs=1e-9)
    assert metrics["segm"]["stats"]["AP"] == pytest.approx(
        evaluate_coco(ground_truth, validated, "segm").stats["AP"], abs=1e-12)
    # predict --score-threshold 0.001 keeps what evaluation keeps (up to 100 per image).
    assert [r["segmentation"] for r in predicted] == [r["segmentation"] for r in scored]
