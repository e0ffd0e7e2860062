"""``instaseg train --teacher``: a trained checkpoint teaches a new run, and what cannot teach or learn is refused
before the run directory is made."""

import dataclasses
import json

import pytest

from instaseg.cli.main import main
from instaseg.engine.checkpoint import load_checkpoint, save_checkpoint
from instaseg.engine.hooks import read_log
from instaseg.models import create_model, model_entry, resolve_config
from instaseg.models.options import config_to_dict


def train_args(tiny_data, out, *extra):
    options = [f"--model-option={k}={v}" for k, v in model_entry("yolact_csp_nano").light_options.items()]
    return ["train", "--data", str(tiny_data["train"]), "--out", str(out), "--epochs", "1", "--img-size", "64",
            "--batch", "4", "--workers", "0", *options, *extra]


@pytest.fixture(scope="module")
def teacher(tiny_data, tmp_path_factory):
    run = tmp_path_factory.mktemp("teacher") / "run"
    assert main(train_args(tiny_data, run)) == 0
    return run / "weights" / "last.safetensors"


def test_a_student_learns_from_a_teacher_and_its_run_records_it(tiny_data, tmp_path, teacher, one_thread):
    run = tmp_path / "student"
    assert main(train_args(tiny_data, run, "--teacher", str(teacher))) == 0
    records = [r for r in read_log(run / "metrics.jsonl") if r["type"] == "train"]
    assert records and all(r["loss_distill_class"] > 0 and r["loss_distill_mask"] > 0 for r in records)
    assert json.loads((run / "config.json").read_text())["teacher"] == str(teacher)
    assert load_checkpoint(run / "weights" / "last.safetensors").metadata.model == "yolact_csp_nano"


def test_what_cannot_teach_or_learn_is_refused_before_the_run_starts(tiny_data, tmp_path, teacher, capsys):
    out = tmp_path / "run"
    # A teacher of other classes.
    checkpoint = load_checkpoint(teacher)
    other = tmp_path / "other_classes.safetensors"
    save_checkpoint(other, checkpoint.weights, dataclasses.replace(
        checkpoint.metadata, category_ids=[c + 100 for c in checkpoint.metadata.category_ids]))
    assert main(train_args(tiny_data, out, "--teacher", str(other))) == 2
    assert "a teacher must know the same classes" in capsys.readouterr().err
    # A model that has no predictions for given objects.
    solo = tmp_path / "solov2.safetensors"
    options = model_entry("solov2_csp_nano").light_options
    save_checkpoint(solo, create_model("solov2_csp_nano", num_classes=checkpoint.metadata.num_classes,
                                       **options).state_dict(),
                    dataclasses.replace(checkpoint.metadata, model="solov2_csp_nano",
                                        model_config=config_to_dict(resolve_config("solov2_csp_nano", options))))
    assert main(train_args(tiny_data, out, "--teacher", str(solo))) == 2
    assert "model 'solov2_csp_nano' cannot teach" in capsys.readouterr().err
    # A student that does not learn from one, and a teacher that is not there.
    assert main(["train", "--data", str(tiny_data["train"]), "--out", str(out), "--epochs", "1", "--model",
                 "mask_rcnn_r18_fpn", "--teacher", str(teacher)]) == 2
    assert "model 'mask_rcnn_r18_fpn' does not learn from a teacher" in capsys.readouterr().err
    assert main(train_args(tiny_data, out, "--teacher", str(tmp_path / "missing.safetensors"))) == 2
    assert "checkpoint not found" in capsys.readouterr().err
    assert not out.exists()
