import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from instaseg.cli.main import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def weights(tiny_checkpoint):
    return tiny_checkpoint


def write_images(root, names_and_shapes):
    for index, (name, shape) in enumerate(names_and_shapes):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        pixels = np.random.default_rng(index).integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(pixels).save(root / name)


def predict(*args):
    return main(["predict", *map(str, args)])


def test_a_folder_gives_results_masks_and_overlays(weights, tmp_path, capsys):
    source = tmp_path / "images"
    write_images(source, [("a/x.png", (40, 60, 3)), ("b/x.png", (50, 30, 3)), ("z.jpg", (32, 32))])
    (source / "bad.png").write_bytes(b"not a png")  # sorted between b/ and z.jpg
    out = tmp_path / "out"
    assert predict("--weights", weights, "--source", source, "--out", out, "--score-threshold", 0.0,
                   "--max-instances", 10, "--batch", 2) == 0
    printed = capsys.readouterr().out
    assert f"skipped: {source / 'bad.png'}: not a readable image" in printed

    # Image ids are 1..N over the sorted files; the unreadable one keeps its number but has no entry.
    images = json.loads((out / "images.json").read_text())
    assert [(i["id"], i["file_name"], i["height"], i["width"]) for i in images["images"]] == [
        (1, "a/x.png", 40, 60), (2, "b/x.png", 50, 30), (4, "z.jpg", 32, 32)]
    assert images["categories"] == [{"id": 3, "name": "disc"}, {"id": 7, "name": "square"}]
    results = json.loads((out / "results.json").read_text())
    assert {r["image_id"] for r in results} == {1, 2, 4}
    assert {r["category_id"] for r in results} <= {3, 7}
    assert all(r["file_name"] == {1: "a/x.png", 2: "b/x.png", 4: "z.jpg"}[r["image_id"]] for r in results)
    assert all(sum(1 for r in results if r["image_id"] == i) <= 10 for i in (1, 2, 4))
    with contextlib.redirect_stdout(io.StringIO()):
        loaded = COCO(str(out / "images.json")).loadRes(str(out / "results.json"))
    assert len(loaded.getAnnIds()) == len(results)

    # Same stem in two folders: two files. Pixel ids follow the results' order; the best is on top.
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["a__x.png", "b__x.png", "z.png"]
    assert sorted(p.name for p in (out / "overlays").iterdir()) == ["a__x.png", "b__x.png", "z.png"]
    id_map = np.asarray(Image.open(out / "masks" / "a__x.png"))
    first = [r for r in results if r["image_id"] == 1]
    assert id_map.shape == (40, 60) and id_map.dtype == np.uint8 and id_map.max() == len(first)
    assert [r["score"] for r in first] == sorted((r["score"] for r in first), reverse=True)
    best = mask_utils.decode(first[0]["segmentation"]).astype(bool)
    assert best.any() and (id_map[best] == 1).all()
    overlay = np.asarray(Image.open(out / "overlays" / "a__x.png"))
    original = np.asarray(Image.open(source / "a" / "x.png"))
    assert overlay.shape == original.shape and not np.array_equal(overlay, original)


def test_predict_a_glob_and_refuse_to_clobber(weights, tmp_path, capsys):
    write_images(tmp_path, [("one.png", (24, 40, 3)), ("two.png", (24, 40, 3))])
    out = tmp_path / "out"
    assert predict("--weights", weights, "--source", tmp_path / "t*.png", "--out", out) == 0
    assert json.loads((out / "images.json").read_text())["images"][0]["file_name"] == "two.png"
    capsys.readouterr()
    (out / "results.json").write_text("mine")
    assert predict("--weights", weights, "--source", tmp_path / "*.png", "--out", out) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "results.json").read_text() == "mine"
    assert predict("--weights", weights, "--source", tmp_path / "*.png", "--out", out, "--overwrite") == 0
    assert len(json.loads((out / "images.json").read_text())["images"]) == 2


def test_exit_1_when_every_image_fails(weights, tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"")
    assert predict("--weights", weights, "--source", tmp_path / "broken.jpg", "--out", tmp_path / "out") == 1
    printed = capsys.readouterr().out
    assert f"skipped: {tmp_path / 'broken.jpg'}: not a readable image" in printed
    assert "predicted 0 image(s)" in printed


@pytest.mark.parametrize("problem", ["missing weights", "not a checkpoint", "no images", "bad batch"])
def test_unusable_requests_exit_2_with_a_message_and_write_nothing(weights, tmp_path, capsys, problem):
    write_images(tmp_path / "images", [("a.png", (20, 20, 3))])
    arguments = {"--weights": weights, "--source": tmp_path / "images", "--out": tmp_path / "out"}
    expected = {"missing weights": "checkpoint not found", "not a checkpoint": "not a readable checkpoint",
                "no images": "matches no images", "bad batch": "--batch"}[problem]
    if problem == "missing weights":
        arguments["--weights"] = tmp_path / "absent.safetensors"
    elif problem == "not a checkpoint":
        arguments["--weights"] = tmp_path / "images" / "a.png"
    elif problem == "no images":
        arguments["--source"] = tmp_path / "images" / "*.tif"
    extra = ["--batch", 0] if problem == "bad batch" else []
    assert predict(*[v for pair in arguments.items() for v in pair], *extra) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and expected in error
    assert not (tmp_path / "out").exists()


def test_with_a_ground_truth_results_carry_its_image_ids(weights, tmp_path, capsys):
    root = tmp_path / "data"
    write_images(root / "images", [("sub/a.png", (30, 40, 3)), ("b.png", (24, 24, 3))])
    ground_truth = {"images": [{"id": 17, "file_name": "sub/a.png", "width": 40, "height": 30},
                               {"id": 5, "file_name": "b.png", "width": 24, "height": 24}],
                    "annotations": [], "categories": [{"id": 3, "name": "disc"}, {"id": 7, "name": "square"}]}
    (root / "val.json").write_text(json.dumps(ground_truth))
    out = tmp_path / "out"
    assert predict("--weights", weights, "--gt", root / "val.json", "--out", out, "--score-threshold", 0.0) == 0
    images = json.loads((out / "images.json").read_text())["images"]
    assert [(i["id"], i["file_name"]) for i in images] == [(17, "sub/a.png"), (5, "b.png")]
    assert {r["image_id"] for r in json.loads((out / "results.json").read_text())} == {17, 5}
    # A --source within the ground truth keeps its ids; one outside it is refused before anything is written.
    assert predict("--weights", weights, "--gt", root / "val.json", "--source", root / "images" / "b.png",
                   "--out", tmp_path / "one", "--score-threshold", 0.0) == 0
    assert [i["id"] for i in json.loads((tmp_path / "one" / "images.json").read_text())["images"]] == [5]
    write_images(tmp_path / "other", [("c.png", (24, 24, 3))])
    capsys.readouterr()
    assert predict("--weights", weights, "--gt", root / "val.json", "--source", tmp_path / "other",
                   "--out", tmp_path / "refused") == 2
    assert "1 of 1 images of --source are not images of" in capsys.readouterr().err
    # A missing or mis-sized image of the ground truth is named before anything is written.
    (root / "images" / "b.png").unlink()
    assert predict("--weights", weights, "--gt", root / "val.json", "--out", tmp_path / "missing") == 2
    assert "image files: 1 missing, of 2 images listed" in capsys.readouterr().err
    assert not (tmp_path / "refused").exists() and not (tmp_path / "missing").exists()
