"""``instaseg data convert``: prints what the target cannot hold and a summary; refuses to clobber."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from instaseg.cli.main import main
from instaseg.data.images import write_png


def write_labelme_folder(root: Path) -> None:
    """Two LabelMe files: a polygon, a grouped pair of rectangles, and a line (which has no area)."""
    for name in ("a", "b"):
        write_png(root / f"{name}.png", np.zeros((40, 50, 3), np.uint8))
    shapes = [{"label": "cell", "points": [[5, 5], [20, 5], [20, 20]], "shape_type": "polygon",
               "group_id": None},
              {"label": "cell", "points": [[25, 25], [30, 30]], "shape_type": "rectangle", "group_id": 4},
              {"label": "cell", "points": [[35, 25], [40, 30]], "shape_type": "rectangle", "group_id": 4},
              {"label": "scratch", "points": [[0, 0], [9, 9]], "shape_type": "line", "group_id": None}]
    for name, document_shapes in (("a", shapes), ("b", [])):
        (root / f"{name}.json").write_text(json.dumps({
            "shapes": document_shapes, "imagePath": f"{name}.png", "imageHeight": 40, "imageWidth": 50}))


def test_labelme_to_yolo_seg_prints_warnings_notes_and_summary(tmp_path, capsys):
    write_labelme_folder(tmp_path / "labelme")
    out = tmp_path / "yolo"

    code = main(["data", "convert", str(tmp_path / "labelme"), "--from", "labelme", "--to", "yolo-seg",
                 "--out", str(out)])

    printed = capsys.readouterr().out
    assert code == 0
    file = tmp_path / "labelme" / "a.json"
    assert f"warning: {file}: shapes[3] (label 'scratch'): shape_type 'line'" in printed
    assert "note: YOLO-seg has no category ids: ids remapped to 0..K-1" in printed
    assert printed.strip().endswith(f"labelme -> yolo-seg: 2 images, 2 of 2 instances written to {out}")
    assert len((out / "labels" / "train" / "a.txt").read_text().splitlines()) == 2
    assert (out / "labels" / "train" / "b.txt").read_text() == ""


def test_refuses_to_clobber_unless_overwrite(tmp_path, capsys):
    write_labelme_folder(tmp_path / "labelme")
    command = ["data", "convert", str(tmp_path / "labelme"), "--from", "labelme", "--to", "coco",
               "--out", str(tmp_path / "coco" / "annotations.json")]
    assert main(command) == 0
    capsys.readouterr()

    assert main(command) == 2
    error = capsys.readouterr().err
    assert "annotations.json: already exists; choose another --out or pass --overwrite" in error
    assert main([*command, "--overwrite"]) == 0
    payload = json.loads((tmp_path / "coco" / "annotations.json").read_text())
    assert len(payload["annotations"]) == 2 and (tmp_path / "coco" / "images" / "a.png").is_file()


def test_bad_source_is_an_error_naming_file_and_line_without_traceback(tmp_path, capsys):
    root = tmp_path / "yolo"
    write_png(root / "images" / "val" / "x.png", np.zeros((8, 8, 3), np.uint8))
    (root / "labels" / "val").mkdir(parents=True)
    (root / "labels" / "val" / "x.txt").write_text("0 0.1 0.1 0.5 0.5 0.9 0.9\n3 0.1 0.1 0.5 0.5 0.9 0.9\n")
    (root / "data.yaml").write_text("names: {0: a, 1: b}\n")

    code = main(["data", "convert", str(root), "--from", "yolo-seg", "--to", "coco", "--out",
                 str(tmp_path / "out.json")])

    error = capsys.readouterr().err
    assert code == 2
    assert f"{root / 'labels' / 'val' / 'x.txt'}:2: class 3 is not in data.yaml names (0..1)" in error
    assert "Traceback" not in error
    assert not (tmp_path / "out.json").exists()


def test_options_for_another_format_are_refused(tmp_path, capsys):
    write_labelme_folder(tmp_path / "labelme")

    code = main(["data", "convert", str(tmp_path / "labelme"), "--from", "labelme", "--to", "coco", "--out",
                 str(tmp_path / "x.json"), "--images", str(tmp_path)])

    assert code == 2
    assert "option(s) images do not apply to labelme -> coco" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data", "convert", str(tmp_path), "--from", "labelme", "--to", "labelme", "--out", "x"])
