"""``instaseg data synth``: writes the dataset, refuses a non-empty folder, keeps presets fixed."""

from __future__ import annotations

import json

from instaseg.cli.main import main
from instaseg.data.formats.coco import coco_to_dataset
from instaseg.data.synthetic import PRESETS


def _synth(*args: str) -> int:
    return main(["data", "synth", "--workers", "1", *args])


def test_writes_coco_json_and_images(tmp_path, capsys):
    out = tmp_path / "out"
    assert _synth("--out", str(out), "--train", "3", "--val", "2", "--size", "64", "--seed", "1") == 0
    for split, count in (("train", 3), ("val", 2)):
        payload = json.loads((out / f"{split}.json").read_text())
        dataset = coco_to_dataset(payload, out / "images")
        assert len(dataset) == count
        assert all(dataset.image_path(image).is_file() for image in dataset)
        assert payload["info"]["synth_config"]["seed"] == 1
    assert "wrote 3 train and 2 val images" in capsys.readouterr().out


def test_refuses_a_non_empty_folder_without_overwrite(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert _synth("--out", str(out), "--train", "1", "--val", "1", "--size", "64") == 2
    error = capsys.readouterr().err
    assert "not empty" in error and "--overwrite" in error and "Traceback" not in error
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert _synth("--out", str(out), "--train", "1", "--val", "1", "--size", "64", "--overwrite") == 0
    assert (out / "train.json").is_file() and (out / "notes.txt").read_text() == "mine"


def test_preset_cannot_be_changed_by_explicit_flags(tmp_path, capsys):
    assert _synth("--out", str(tmp_path / "out"), "--preset", "bench", "--size", "128") == 2
    error = capsys.readouterr().err
    assert "--preset bench" in error and "--size" in error
    assert not (tmp_path / "out").exists()


def test_preset_writes_its_own_config(tmp_path):
    out = tmp_path / "out"
    assert _synth("--out", str(out), "--preset", "tiny") == 0
    payload = json.loads((out / "val.json").read_text())
    assert payload["info"]["synth_config"] == PRESETS["tiny"].to_dict()
    assert len(payload["images"]) == PRESETS["tiny"].val


def test_bad_value_is_a_clear_error(tmp_path, capsys):
    assert _synth("--out", str(tmp_path / "out"), "--size", "8") == 2
    assert "size must be >= 32" in capsys.readouterr().err
