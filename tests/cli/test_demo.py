from instaseg.cli.demo import next_free_run_dir
from instaseg.cli.main import main


def test_demo_runs_the_pipeline_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--preset", "tiny", "--out", str(out), "--minutes", "0.1"]) == 0
    assert (out / "data" / "train.json").is_file() and (out / "data" / "val.json").is_file()
    for picture in ("previews/grid.png", "predictions/grid.png", "train/loss_curve.png"):
        assert (out / picture).stat().st_size > 1000, picture
    assert (out / "train" / "weights" / "best.safetensors").is_file()
    report = (out / "report.md").read_text()
    assert "| segm | " in report and "| bbox | " in report and "AP50" in report
    assert "images            32" in report and "predictions/grid.png" in report
    assert "## Where the AP goes" in report and "eval/errors.png" in report
    for picture in ("eval/errors.png", "eval/pr_curves_segm.png", "eval/confusion.png"):
        assert (out / picture).stat().st_size > 1000, picture
    assert (out / "eval" / "report.html").is_file() and (out / "train" / "val_predictions.json").is_file()
    printed = capsys.readouterr().out
    assert "train.json: 0 errors" in printed and "val.json: 0 errors" in printed


def test_demo_never_clobbers_an_earlier_run(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    assert main(["demo", "--preset", "tiny", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep"


def test_default_run_dir_moves_to_the_next_free_name(tmp_path):
    base = tmp_path / "demo"
    assert next_free_run_dir(base) == base
    base.mkdir()
    (base / "x").write_text("")
    assert next_free_run_dir(base) == tmp_path / "demo-2"
    (tmp_path / "demo-2").mkdir()
    assert next_free_run_dir(base) == tmp_path / "demo-3"
