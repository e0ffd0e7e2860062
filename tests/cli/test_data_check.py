"""``instaseg data check`` over the broken-file corpus: one specific message per file, exit codes, --fix."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from instaseg.cli.main import main

CORPUS = Path(__file__).resolve().parents[1] / "data" / "broken"

# file -> (field, key phrase) that its message must carry.
BROKEN = {
    "invalid_json.json": ("line 5, column 1", "invalid JSON: Expecting property name"),
    "empty.json": ("", "the file is empty"),
    "not_utf8.json": ("line 1, column 28", "not UTF-8 text"),
    "top_level_list.json": ("", "top level must be a JSON object"),
    "missing_sections.json": ("annotations", "missing; a COCO file needs"),
    "image_missing_keys.json": ("image 1: file_name", "missing"),
    "string_id.json": ("annotations[0] (image 1): id", 'must be an integer; got the string "17"'),
    "bbox_three_numbers.json": ("annotation 1 (image 1): bbox", "must be 4 numbers [x, y, width, height]"),
    "width_not_positive.json": ("image 2: width", "must be a positive integer; got 0"),
    "height_not_integer.json": ("image 2: height", "must be an integer; got 12.5"),
    "duplicate_image_id.json": ("image 1: id", "duplicate image id 1"),
    "duplicate_annotation_id.json": ("annotation 2 (image 2): id", "duplicate annotation id 2"),
    "duplicate_category_id.json": ("category 1: id", "duplicate category id 1"),
    "unknown_category.json": ("annotation 2 (image 2): category_id", "category 9 does not exist"),
    "unknown_image.json": ("annotation 2 (image 7): image_id", "image 7 does not exist"),
    "polygon_two_points.json": ("annotation 1 (image 1): segmentation",
                                "polygon 0 has 2 points; needs at least 3"),
    "polygon_odd_count.json": ("segmentation", "polygon 0 has an odd number of coordinates (7)"),
    "polygon_zero_area.json": ("segmentation", "polygon 0 has zero area"),
    "polygon_flat.json": ("segmentation", "flat list of numbers"),
    "polygon_outside_image.json": ("segmentation",
                                   "polygon 0 reaches outside the image (width 20, height 16)"),
    "bbox_outside_image.json": ("bbox",
                                "reaches outside the image (width 20, height 16): right edge at x = 32"),
    "bbox_negative_size.json": ("bbox", "has negative width -8"),
    "rle_size_mismatch.json": ("segmentation.size",
                               "is [20, 16] ([height, width]) but the image is [16, 20]"),
    "rle_counts_sum.json": ("segmentation.counts",
                            "run lengths sum to 110, but size [16, 20] has 320 pixels"),
    "rle_too_short.json": ("segmentation.counts", "run lengths sum to 234, but size [16, 20] has 320 pixels"),
    "rle_undecodable.json": ("segmentation.counts", "cannot be decoded"),
    "nan_values.json": ("bbox", "element 2 must be a number; got NaN (NaN and Infinity are not valid JSON)"),
    "segmentation_missing.json": ("segmentation", "missing; every instance needs a mask"),
    "segmentation_empty.json": ("segmentation", "is an empty list"),
    "iscrowd_invalid.json": ("iscrowd", "must be 0 or 1; got 2"),
    "category_without_name.json": ("category 2: name", "missing"),
    "mask_empty.json": ("segmentation", "the mask covers no pixel"),
}
WARNINGS_ONLY = {
    "crowd_polygon.json": ("warning: segmentation", "crowd annotation (iscrowd 1) should be an RLE"),
    "bbox_far_from_mask.json": ("warning: bbox", "[0, 0, 4, 4] is far from the mask's box [5, 4, 10, 6]"),
}
UNREADABLE = {"invalid_json.json", "empty.json", "not_utf8.json", "top_level_list.json",
              "missing_sections.json"}
WRONG_SIZE = "image 2: width, height: declared width 20, height 16, but wrong_size.png is width 12, height 10"


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["data", "check", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    return code, captured.out, captured.err


def test_every_corpus_file_is_covered():
    names = {path.name for path in CORPUS.glob("*.json")}
    assert names == set(BROKEN) | set(WARNINGS_ONLY) | {"clean.json", "image_files.json"}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_broken_file_gets_its_own_message(capsys, name):
    field, phrase = BROKEN[name]
    code, out, _ = _run(capsys, str(CORPUS / name))
    assert code == 1
    assert any(line.startswith(str(CORPUS / name)) and f"{field}: " in line and phrase in line
               for line in out.splitlines()), out
    assert any(line.startswith(f"{CORPUS / name}: ") and " error" in line and "0 errors" not in line
               for line in out.splitlines()[-2:]), "no summary line"


@pytest.mark.parametrize("name", sorted(WARNINGS_ONLY))
def test_warnings_are_printed_but_do_not_fail(capsys, name):
    field, phrase = WARNINGS_ONLY[name]
    code, out, _ = _run(capsys, str(CORPUS / name))
    assert code == 0
    assert f"{field}: " in out and phrase in out
    assert ": 0 errors, 1 warning in 1 of 2 images" in out


def test_a_clean_file_passes_with_its_images(capsys):
    code, out, _ = _run(capsys, str(CORPUS / "clean.json"), "--images", str(CORPUS))
    assert code == 0
    assert out.splitlines() == [f"{CORPUS / 'clean.json'}: 0 errors, 0 warnings in 0 of 2 images "
                                f"(3 annotations, 2 categories; image files checked under {CORPUS})"]


def test_image_files_missing_unreadable_or_of_another_size(capsys):
    code, out, _ = _run(capsys, str(CORPUS / "image_files.json"), "--images", str(CORPUS))
    assert code == 1
    assert WRONG_SIZE in out
    assert f"image 3: file_name: {CORPUS / 'corrupt.png'}: not a readable image" in out
    assert f"image 4: file_name: image file not found: {CORPUS / 'absent.png'}" in out
    assert "3 errors, 0 warnings in 3 of 4 images" in out
    assert (f"image files: 1 missing, 1 unreadable, 1 of another size than their record declares, of 4 images "
            f"listed, looked for under {CORPUS}; if the images are elsewhere, pass --images DIR") in out
    code, again, _ = _run(capsys, str(CORPUS / "image_files.json"))  # by default, where the file_names resolve
    assert code == 1 and again == out
    code, out, _ = _run(capsys, str(CORPUS / "image_files.json"), "--no-images")
    assert code == 0 and "image files were not checked (--no-images)" in out


def test_usage_errors_exit_2_without_traceback(capsys, tmp_path):
    code, _, err = _run(capsys, str(tmp_path / "absent.json"))
    assert code == 2 and "absent.json: file not found" in err
    code, _, err = _run(capsys, str(CORPUS / "clean.json"), "--images", str(tmp_path / "nowhere"))
    assert code == 2 and "nowhere: image folder of clean.json not found; pass --images DIR" in err
    code, _, err = _run(capsys, str(CORPUS / "clean.json"), "--fix")
    assert code == 2 and "--fix needs --out" in err
    code, _, err = _run(capsys, str(CORPUS / "clean.json"), "--out", str(tmp_path / "x.json"))
    assert code == 2 and "only used with --fix" in err


def test_fix_never_writes_over_its_input_or_an_existing_file(capsys, tmp_path):
    source = tmp_path / "train.json"
    source.write_bytes((CORPUS / "bbox_outside_image.json").read_bytes())
    original = source.read_bytes()
    same_file = str(tmp_path / "." / "train.json")
    code, _, err = _run(capsys, str(source), "--fix", "--out", same_file, "--overwrite")
    assert code == 2 and "is the input file" in err and source.read_bytes() == original
    existing = tmp_path / "clean.json"
    existing.write_text("keep me")
    code, _, err = _run(capsys, str(source), "--fix", "--out", str(existing))
    assert code == 2 and "exists; choose another --out or pass --overwrite" in err
    assert existing.read_text() == "keep me"
    code, out, _ = _run(capsys, str(source), "--fix", "--out", str(existing), "--overwrite")
    assert code == 1 and "nothing written: none of the 2 images was found" in out  # a wrong folder drops nothing
    code, out, _ = _run(capsys, str(source), "--fix", "--out", str(existing), "--overwrite", "--no-images")
    assert code == 0 and f"wrote {existing}" in out
    assert json.loads(existing.read_text())["annotations"][0]["bbox"] == [2.0, 2.0, 8.0, 6.0]
    assert source.read_bytes() == original


@pytest.mark.parametrize("name", sorted(set(BROKEN) | set(WARNINGS_ONLY) | {"image_files.json"}))
def test_fix_output_of_every_corpus_file_checks_clean(capsys, tmp_path, name):
    out_path = tmp_path / "clean.json"
    code, out, _ = _run(capsys, str(CORPUS / name), "--images", str(CORPUS), "--fix", "--out", str(out_path))
    if name in UNREADABLE:
        assert code == 1 and "nothing written" in out and not out_path.exists()
        return
    assert code == 0 and f"wrote {out_path}" in out
    code, out, _ = _run(capsys, str(out_path), "--images", str(CORPUS))
    assert code == 0 and ": 0 errors, 0 warnings" in out


def test_fix_lists_each_dropped_record_with_its_reason(capsys, tmp_path):
    out_path = tmp_path / "clean.json"
    code, out, _ = _run(capsys, str(CORPUS / "image_files.json"), "--images", str(CORPUS), "--fix", "--out",
                        str(out_path))
    assert code == 0
    dropped = [line for line in out.splitlines() if line.startswith("dropped ")]
    assert dropped == [
        f"dropped {WRONG_SIZE}",
        f"dropped image 3: file_name: {CORPUS / 'corrupt.png'}: not a readable image "
        f"(cannot identify image file '{CORPUS / 'corrupt.png'}')",
        f"dropped image 4: file_name: image file not found: {CORPUS / 'absent.png'}",
        "dropped annotation 2 (image 4): image_id: its image 4 was dropped",
        "dropped annotation 3 (image 3): image_id: its image 3 was dropped",
    ]
    assert "1 of 4 images, 1 of 3 annotations, 2 of 2 categories; dropped 5 records" in out


def test_printing_is_capped_per_kind_but_totals_are_complete(capsys, tmp_path):
    payload = json.loads((CORPUS / "clean.json").read_text())
    template = payload["annotations"][0]
    payload["annotations"] = [dict(template, id=i, segmentation=[[1.0, 1.0, 2.0, 2.0]]) for i in range(1, 31)]
    payload["annotations"].append(dict(template, id=99, category_id=5))
    path = tmp_path / "big.json"
    path.write_text(json.dumps(payload))
    code, out, _ = _run(capsys, str(path), "--max-per-kind", "3", "--no-images")
    lines = out.splitlines()
    assert code == 1
    assert sum("polygon 0 has 2 points" in line for line in lines) == 3
    assert "... and 27 more polygon-too-few-points problems (30 in all)" in lines
    assert "annotation 99 (image 1): category_id: category 5 does not exist" in out
    assert f"{path}: 31 errors, 0 warnings in 1 of 2 images (31 annotations, 2 categories)" in lines
    code, out, _ = _run(capsys, str(path), "--max-per-kind", "0", "--no-images")
    assert sum("polygon 0 has 2 points" in line for line in out.splitlines()) == 30


def test_the_installed_command_reports_bad_json_without_traceback():
    result = subprocess.run([sys.executable, "-m", "instaseg.cli.main", "data", "check",
                             str(CORPUS / "invalid_json.json")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "line 5, column 1: invalid JSON" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
