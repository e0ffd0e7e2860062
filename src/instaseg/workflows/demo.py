"""The demo workflow: data -> checks -> previews -> training -> evaluation -> predictions -> report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from instaseg.data.formats.coco import read_coco
from instaseg.data.stats import dataset_statistics, format_statistics
from instaseg.data.synthetic import PRESETS, generate_dataset
from instaseg.data.validation import check_coco
from instaseg.errors import InstasegError
from instaseg.evaluation.coco import STAT_NAMES
from instaseg.evaluation.operating_point import OperatingPoint, best_f1_operating_point
from instaseg.models import DEFAULT_MODEL
from instaseg.utils.files import atomic_write_text
from instaseg.visualization.grid import make_grid
from instaseg.visualization.render import render_dataset


@dataclass(frozen=True)
class DemoSettings:
    run_dir: Path
    minutes: float  # of training (the command's default: ``cli.demo.DEMO_MINUTES``)
    preset: str = "bench"
    model: str = DEFAULT_MODEL
    device: str = "cpu"
    overwrite: bool = False
    prediction_samples: int = 16


def _step(number: int, text: str) -> None:
    print(f"[{number}/6] {text}", flush=True)


def run_demo(settings: DemoSettings) -> Path:
    """Run every step into ``settings.run_dir``; returns the report's path."""
    run_dir = settings.run_dir
    config = PRESETS[settings.preset]

    _step(1, f"generating the built-in '{settings.preset}' dataset ({config.train} + {config.val} images of "
             f"{config.size} px)")
    paths = generate_dataset(config, run_dir / "data", overwrite=settings.overwrite)

    _step(2, "validating annotations and images (the checks training runs first)")
    for split in ("train", "val"):
        report = check_coco(paths[split], check_images=True)
        print(f"      {paths[split].name}: {len(report.errors)} errors, {len(report.warnings)} warnings")
        if report.errors:
            raise InstasegError("the generated dataset failed validation:\n"
                                + "\n".join(str(p) for p in report.errors[:20]))
    datasets = {split: read_coco(paths[split]) for split in ("train", "val")}

    _step(3, "drawing ground-truth previews of the validation split")
    previews = render_dataset(datasets["val"], run_dir / "previews", limit=32, overwrite=settings.overwrite)

    _step(4, f"training {settings.model} for {settings.minutes:g} minutes on {settings.device}")
    trainer = _train(settings, paths)
    metrics = trainer.latest_metrics

    _step(5, "evaluating on the validation split (COCO AP as pycocotools computes it, error analysis, report)")
    print(_metrics_table(metrics))
    evaluation_report, point = _evaluation_report(paths["val"], run_dir / "train" / "val_predictions.json",
                                                  run_dir / "eval")
    # The overlays show what the model finds at its best operating point on the validation split: after a
    # few minutes' training scores are low, and a fixed 0.5 would show nothing.
    threshold = point.score if point is not None else 0.5
    shown = (f"score >= {threshold:.2f}, the threshold of best F1 at IoU 0.5 on the validation split: precision "
             f"{point.precision:.2f}, recall {point.recall:.2f}" if point is not None else "score >= 0.50")

    _step(6, f"predicting on {settings.prediction_samples} validation images ({shown})")
    prediction_grid = _predict_samples(settings, datasets["val"], run_dir / "train" / "weights" / "best.safetensors",
                                       threshold)

    report_path = run_dir / "report.md"
    statistics = {split: dataset_statistics(dataset) for split, dataset in datasets.items()}
    atomic_write_text(report_path, _report(settings, statistics, metrics, trainer,
                                           previews.grid.relative_to(run_dir),
                                           prediction_grid.relative_to(run_dir), evaluation_report, shown))
    return report_path


def _train(settings: DemoSettings, paths: dict[str, Path]):
    from instaseg.engine.config import TrainConfig
    from instaseg.engine.launch import train

    config = TrainConfig(data=str(paths["train"]), val=str(paths["val"]), out=str(settings.run_dir / "train"),
                         model=settings.model, minutes=settings.minutes, image_size=PRESETS[settings.preset].size,
                         device=settings.device, eval_every=0)  # one validation, at the end
    return train(config, overwrite=settings.overwrite)


def _evaluation_report(ground_truth_path: Path, predictions_path: Path, out: Path
                       ) -> tuple[list[str], OperatingPoint | None]:
    """The full evaluation report of the validation predictions into ``out``; its Markdown sections for
    the demo report (pictures linked from there), and the masks' best-F1 operating point."""
    import json

    from instaseg.evaluation.coco import evaluate_coco
    from instaseg.evaluation.errors import analyse_evaluation
    from instaseg.evaluation.report import write_report

    ground_truth = json.loads(ground_truth_path.read_text())
    predictions = json.loads(predictions_path.read_text())
    evaluations = {kind: evaluate_coco(ground_truth, predictions, kind) for kind in ("segm", "bbox")}
    errors = analyse_evaluation(evaluations["segm"])
    write_report(evaluations, out, "Validation of the demo model", errors)
    name = out.name
    lost = ", ".join(f"{kind} {100 * value:.1f}" for kind, value in
                     sorted(errors.delta_ap.items(), key=lambda item: -item[1]))
    sections = ["## Where the AP goes (IoU 0.5)\n",
                f"AP50 {100 * errors.ap50:.1f}; AP50 points gained by fixing each error type: {lost}. "
                f"Full report: [{name}/report.html]({name}/report.html).\n",
                f"![errors]({name}/errors.png)\n", f"![precision-recall]({name}/pr_curves_segm.png)\n",
                f"![AP per class]({name}/class_ap.png)\n"]
    return sections, best_f1_operating_point(evaluations["segm"])


def _predict_samples(settings: DemoSettings, dataset, weights: Path, score_threshold: float) -> Path:
    from instaseg.data.images import read_image, write_png
    from instaseg.inference import Predictor
    from instaseg.inference.writers import draw_predictions

    predictor = Predictor.from_checkpoint(weights, device=settings.device, score_threshold=score_threshold)
    out_dir = settings.run_dir / "predictions"
    out_dir.mkdir(parents=True, exist_ok=True)
    tiles = []
    for image in dataset.images[: settings.prediction_samples]:
        pixels = read_image(dataset.image_path(image))
        overlay = draw_predictions(pixels, predictor(pixels), predictor.class_names)
        write_png(out_dir / Path(image.file_name).name, overlay)
        tiles.append(overlay)
    grid = out_dir / "grid.png"
    write_png(grid, make_grid(tiles) if tiles else np.zeros((8, 8, 3), np.uint8))
    return grid


def _metrics_table(metrics: dict) -> str:
    header = "| | " + " | ".join(STAT_NAMES) + " |"
    rule = "|---" * (len(STAT_NAMES) + 1) + "|"
    rows = [f"| {kind} | " + " | ".join(f"{metrics[kind][name]:.3f}" for name in STAT_NAMES) + " |"
            for kind in ("segm", "bbox") if kind in metrics]
    return "\n".join([header, rule, *rows])


def _report(settings: DemoSettings, statistics: dict, metrics: dict, trainer, previews: Path,
            predictions: Path, evaluation: list[str], shown: str) -> str:
    state = trainer.state
    sections = [
        "# instaseg demo\n",
        f"Built-in dataset `{settings.preset}`; model `{settings.model}` trained from scratch for "
        f"{state.train_seconds / 60:.1f} minutes ({state.iteration} iterations, {state.epoch} full epochs) on "
        f"{settings.device}. A few minutes on a CPU is a smoke test of the whole pipeline, not a trained model: "
        "train longer (`instaseg train --minutes ...`) for useful accuracy.\n",
        "## COCO metrics on the validation split\n", _metrics_table(metrics) + "\n", *evaluation,
        "## Training curves\n", "![loss curve](train/loss_curve.png)\n",
        f"## Predictions on validation images ({shown})\n", f"![predictions]({predictions.as_posix()})\n",
        "## Ground truth of validation images\n", f"![ground truth]({previews.as_posix()})\n",
    ]
    for split, stats in statistics.items():
        sections.append(f"## Dataset: {split}\n\n```\n{format_statistics(stats)}\n```\n")
    return "\n".join(sections)
