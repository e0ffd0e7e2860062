import numpy as np
from PIL import Image

from instaseg.cli.main import main
from instaseg.data.formats.coco import write_coco
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.structures.masks import Mask


def make_dataset(root, with_scores=False) -> InstanceDataset:
    images = []
    (root / "images").mkdir()
    for index in range(3):
        pixels = np.full((40, 50, 3), 40 * index, np.uint8)
        Image.fromarray(pixels).save(root / "images" / f"img{index}.png")
        bitmap = np.zeros((40, 50), bool)
        bitmap[5:20, 5 + index:25 + index] = True
        annotations = [Annotation.from_mask(index + 1, 1, Mask.from_bitmap(bitmap),
                                            score=0.8 if with_scores else None)] if index else []
        images.append(ImageRecord(index + 1, f"img{index}.png", 50, 40, annotations))
    return InstanceDataset(images, [Category(1, "widget")], root / "images")


def test_show_writes_one_overlay_per_image_and_a_grid(tmp_path, capsys):
    write_coco(make_dataset(tmp_path), tmp_path / "train.json")
    assert main(["data", "show", str(tmp_path / "train.json"), "--out", str(tmp_path / "show")]) == 0
    written = sorted(p.name for p in (tmp_path / "show").iterdir())
    assert written == ["grid.png", "img0.png", "img1.png", "img2.png"]
    overlay = np.asarray(Image.open(tmp_path / "show" / "img1.png"))
    original = np.asarray(Image.open(tmp_path / "images" / "img1.png"))
    assert not np.array_equal(overlay[10, 15], original[10, 15])  # annotated pixel tinted
    assert np.array_equal(overlay[35, 45], original[35, 45])


def test_show_refuses_a_non_empty_out_folder(tmp_path, capsys):
    write_coco(make_dataset(tmp_path), tmp_path / "train.json")
    out = tmp_path / "show"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["data", "show", str(tmp_path / "train.json"), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


def test_show_reports_a_missing_image_and_draws_the_rest(tmp_path, capsys):
    write_coco(make_dataset(tmp_path, with_scores=True), tmp_path / "train.json")
    (tmp_path / "images" / "img2.png").unlink()
    code = main(["data", "show", str(tmp_path / "train.json"), "--out", str(tmp_path / "show")])
    output = capsys.readouterr().out
    assert code == 0 and "img2.png: image file not found" in output
    assert (tmp_path / "show" / "img1.png").exists()
