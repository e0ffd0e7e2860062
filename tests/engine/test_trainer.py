import json
import os
import shutil

import pytest
import torch
from PIL import Image

from instaseg.cli.main import main
from instaseg.data.transforms import AugmentConfig
from instaseg.engine.checkpoint import load_checkpoint
from instaseg.engine.config import TrainConfig
from instaseg.engine.hooks import read_log
from instaseg.engine.launch import train
from instaseg.engine.trainer import TrainingDiverged

# Small but real: Mask R-CNN R18 with narrower heads and a light RoI budget, every iteration logged.
LIGHT = {"rpn_pre_nms_train": 200, "rpn_post_nms_train": 100, "roi_batch_per_image": 32, "fpn_channels": 64,
         "mask_head_channels": 64, "box_head_fc": 256}


def config(tiny_data, out, **changes) -> TrainConfig:
    values = dict(data=str(tiny_data["train"]), out=str(out), model="mask_rcnn_r18_fpn", epochs=2, image_size=64,
                  batch_size=2, workers=0, warmup_iters=3, log_every=1, model_options=LIGHT,
                  checkpoint_every_minutes=1e9, checkpoint_min_seconds=0)
    values.update(changes)
    return TrainConfig(**values)


def losses_by_iteration(run_dir) -> dict[int, float]:
    return {r["iteration"]: r["loss"] for r in read_log(run_dir / "metrics.jsonl") if r["type"] == "train"}


def test_resumed_run_continues_exactly_where_the_killed_run_stopped(tiny_data, tmp_path, one_thread):
    """(One thread: multi-threaded convolution backward may sum in a different order run to run.)
    Kill a run part-way (after its epoch-1 checkpoint), resume it: every later iteration's loss, the
    learning rate and the final weights equal those of the run that was never interrupted."""
    uninterrupted = train(config(tiny_data, tmp_path / "whole"))
    train(config(tiny_data, tmp_path / "killed"), stop_after=6)  # 4 batches per epoch: killed mid epoch 2
    killed_log = losses_by_iteration(tmp_path / "killed")
    assert max(killed_log) == 6
    checkpoint = load_checkpoint(tmp_path / "killed" / "weights" / "last.safetensors", with_training=True)
    assert checkpoint.training["state"]["iteration"] == 4  # the end of the first epoch

    resumed = main(["train", "--resume", str(tmp_path / "killed")])
    assert resumed == 0
    whole, again = losses_by_iteration(tmp_path / "whole"), losses_by_iteration(tmp_path / "killed")
    assert sorted(again) == list(range(1, 9))  # re-logged from the checkpoint on: no gaps, no duplicates
    for iteration in range(1, 9):
        assert again[iteration] == pytest.approx(whole[iteration], rel=1e-4, abs=1e-6), iteration
    final = load_checkpoint(tmp_path / "killed" / "weights" / "last.safetensors").weights
    for name, value in uninterrupted.prediction_model().state_dict().items():
        assert torch.allclose(final[name], value, atol=1e-5), name


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tiny_data, tmp_path, monkeypatch):
    from instaseg.models.mask_rcnn.model import MaskRCNN

    original = MaskRCNN.loss
    calls = {"n": 0}

    def poisoned(self, images, targets):
        result = original(self, images, targets)
        calls["n"] += 1
        if calls["n"] == 6:
            result["loss_mask"] = result["loss_mask"] * float("nan")
        return result

    monkeypatch.setattr(MaskRCNN, "loss", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss became nan at iteration 5 .*loss_mask=nan"):
        train(config(tiny_data, tmp_path / "run"))
    kept = load_checkpoint(tmp_path / "run" / "weights" / "last.safetensors", with_training=True)
    assert kept.training["state"]["iteration"] == 4
    assert all(torch.isfinite(v).all() for v in kept.weights.values() if v.is_floating_point())


def test_validation_writes_best_checkpoint_metrics_curve_and_config(tiny_data, tmp_path):
    run = tmp_path / "run"
    trainer = train(config(tiny_data, run, epochs=1, val=str(tiny_data["val"])))
    records = read_log(run / "metrics.jsonl")
    val = [r for r in records if r["type"] == "val"]
    assert len(val) == 1 and set(val[0]) >= {"segm", "bbox"} and "AP50" in val[0]["segm"]
    best = load_checkpoint(run / "weights" / "best.safetensors")
    assert best.training is None and best.metadata.metrics["segm"] == val[0]["segm"]
    assert best.metadata.class_names[:2] == ["ellipse", "rectangle"] and best.metadata.image_size == 64
    assert (run / "loss_curve.png").stat().st_size > 1000
    assert json.loads((run / "config.json").read_text())["model_options"] == LIGHT
    assert trainer.state.best_iteration == 4 and any((run / "tensorboard").iterdir())
    # The validation predictions are kept, and scoring them again gives the logged numbers.
    from instaseg.evaluation.coco import evaluate_coco

    predictions = json.loads((run / "val_predictions.json").read_text())
    ground_truth = json.loads(tiny_data["val"].read_text())
    assert evaluate_coco(ground_truth, predictions, "segm").stats == pytest.approx(val[0]["segm"], abs=1e-12)


def test_sgd_step_schedule_accumulation_and_no_augmentation_train(tiny_data, tmp_path):
    augment = AugmentConfig(hflip=0.0, scale_jitter=None, crop=False, color_jitter=0.0)
    trainer = train(config(tiny_data, tmp_path / "run", epochs=1, optimizer="sgd", lr=0.01, schedule="step",
                           accumulate=2, ema=False, augment=augment))
    assert trainer.state.iteration == 4 and trainer.ema is None
    assert trainer.optimizer.state  # two optimiser steps were taken
    records = read_log(tmp_path / "run" / "metrics.jsonl")
    assert [r["iteration"] for r in records if r["type"] == "train"] == [1, 2, 3, 4]


def test_run_directory_is_never_clobbered(tiny_data, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine")
    code = main(["train", "--data", str(tiny_data["train"]), "--out", str(run), "--epochs", "1"])
    assert code == 2 and "not empty" in capsys.readouterr().err
    assert (run / "notes.txt").read_text() == "mine"


def test_bad_arguments_get_clear_errors(tiny_data, tmp_path, capsys):
    assert main(["train", "--data", str(tiny_data["train"]), "--out", str(tmp_path / "a")]) == 2
    assert "--epochs N or --minutes M" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["train", "--data", str(tmp_path / "missing.json"), "--out", str(tmp_path / "b"),
                 "--epochs", "1"]) == 2
    assert "missing.json" in capsys.readouterr().err


def test_a_mixing_recipe_trains_and_is_recorded(tiny_data, tmp_path):
    from instaseg.cli.main import build_parser
    from instaseg.cli.train import config_from_args
    from instaseg.data.transforms.config import recipe

    args = build_parser().parse_args(["train", "--data", str(tiny_data["train"]), "--out", str(tmp_path / "run"),
                                      "--epochs", "1", "--augment", "scratch", "--no-hflip"])
    chosen = config_from_args(args).augment
    assert chosen.mosaic == recipe("scratch").mosaic > 0 and chosen.hflip == 0.0
    trainer = train(config(tiny_data, tmp_path / "run", epochs=1, augment=chosen))
    assert trainer.state.iteration == 4
    recorded = TrainConfig.from_dict(json.loads((tmp_path / "run" / "config.json").read_text()))
    assert recorded.augment == chosen
    assert main(["train", "--data", str(tiny_data["train"]), "--out", str(tmp_path / "x"), "--epochs", "1",
                 "--augment", "fancy"]) == 2


def test_the_default_recipe_is_the_ablations_choice_everywhere(tiny_data, tmp_path):
    from instaseg.cli.main import build_parser
    from instaseg.cli.train import config_from_args
    from instaseg.data.transforms.config import DEFAULT_RECIPE, recipe

    args = build_parser().parse_args(["train", "--data", str(tiny_data["train"]), "--out", str(tmp_path / "run"),
                                      "--epochs", "1"])
    assert config_from_args(args).augment == TrainConfig(data="x", out="y").augment == recipe(DEFAULT_RECIPE)
    assert recipe(DEFAULT_RECIPE).copy_paste > 0  # copy-paste won the data-scarce ablation
    # Run directories written before the default changed kept no augment block: they resume with 'basic'.
    assert TrainConfig.from_dict({"data": "x", "out": "y"}).augment == recipe("basic")


def test_workers_live_across_epochs_and_a_resumed_run_with_workers_matches_one_without(tiny_data, tmp_path,
                                                                                        one_thread, monkeypatch):
    """The epoch travels with each sampled index, so worker processes started once serve every epoch, and
    what they load does not depend on how many there are or on a kill and resume. Workers of a CPU run
    take the lowest scheduling priority, leaving the cores to the training step."""
    from instaseg.data.dataset import InstanceSegmentationDataset

    pid_log = tmp_path / "pids.txt"
    original = InstanceSegmentationDataset.__getitem__

    def logged(self, key):
        with pid_log.open("a") as file:  # forked workers inherit the patch and append their pid
            file.write(f"{os.getpid()} {os.nice(0)}\n")
        return original(self, key)

    plain = train(config(tiny_data, tmp_path / "plain"))
    monkeypatch.setattr(InstanceSegmentationDataset, "__getitem__", logged)
    train(config(tiny_data, tmp_path / "killed", workers=2), stop_after=6)  # killed in its second epoch
    workers = dict(line.split() for line in pid_log.read_text().splitlines())
    assert len(workers) == 2 and str(os.getpid()) not in workers  # two epochs, two processes: none re-forked
    assert set(workers.values()) == {"19"}
    assert main(["train", "--resume", str(tmp_path / "killed")]) == 0
    whole, resumed = losses_by_iteration(tmp_path / "plain"), losses_by_iteration(tmp_path / "killed")
    assert sorted(resumed) == list(range(1, 9)) and plain.state.iteration == 8
    assert resumed == pytest.approx(whole, rel=1e-4, abs=1e-6)


def test_validation_cadence_in_iterations_and_the_ranking_metric(tiny_data, tmp_path):
    run = tmp_path / "run"
    trainer = train(config(tiny_data, run, epochs=2, val=str(tiny_data["val"]), eval_every=0, eval_every_iters=3))
    val = [r for r in read_log(run / "metrics.jsonl") if r["type"] == "val"]
    assert [r["iteration"] for r in val] == [3, 6, 8]  # every 3 iterations and once at the end
    best = max(val, key=lambda r: r["segm"]["AP"])
    assert trainer.state.best_metric == best["segm"]["AP"] and trainer.state.best_iteration == best["iteration"]


def test_every_input_is_checked_before_the_run_directory_is_made(tiny_data, tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "--model", "mask_rcnn_r18_fpn", "--data", str(tiny_data["train"]), "--out", str(out),
              "--epochs", "1"]
    assert main([*common, "--images", str(tmp_path)]) == 2  # a folder without the images
    error = capsys.readouterr().err
    assert "image files: 8 missing, of 8 images listed, looked for under" in error and "pass --images DIR" in error
    assert main([*common, "--model-option", "fpn_chanels=64"]) == 2
    assert "has no option 'fpn_chanels'; its options: backbone, fpn_channels" in capsys.readouterr().err
    assert main([*common, "--model-option", "fpn_channels"]) == 2
    assert "--model-option takes key=value" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*common, "--model", "mask_rcnn_r17_fpn"])
    assert "invalid choice: 'mask_rcnn_r17_fpn'" in capsys.readouterr().err
    # One image of the wrong size is named too.
    broken = tmp_path / "broken"
    shutil.copytree(tiny_data["train"].parent, broken)
    first = json.loads((broken / "train.json").read_text())["images"][0]["file_name"]
    Image.new("RGB", (10, 10)).save(broken / "images" / first)
    assert main(["train", "--data", str(broken / "train.json"), "--out", str(out), "--epochs", "1"]) == 2
    error = capsys.readouterr().err
    assert "but 000001.png is width 10, height 10" in error and "image files: 1 of another size" in error
    assert not out.exists()


def test_tiny_epochs_do_not_write_a_checkpoint_or_a_curve_every_step(tiny_data, tmp_path, monkeypatch):
    from instaseg.engine import hooks

    written = []
    monkeypatch.setattr(hooks.Checkpointer, "save_last", lambda self: written.append("last"))
    monkeypatch.setattr(hooks.LossCurve, "draw", lambda self: written.append("curve"))
    trainer = train(config(tiny_data, tmp_path / "run", epochs=3, batch_size=8, checkpoint_min_seconds=60))
    assert trainer.state.epoch == 3 and trainer.state.iteration == 3  # one step per epoch
    assert written == ["last", "curve"]  # each once, at the end
