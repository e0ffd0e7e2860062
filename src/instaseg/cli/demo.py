"""``instaseg demo``: the main job on the built-in data, end to end, offline.

Today it runs the data pipeline: generate the built-in benchmark, validate it exactly as training will, and
draw previews; training, evaluation and prediction join it as they land.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from instaseg.data.formats.coco import read_coco
from instaseg.data.stats import dataset_statistics, format_statistics
from instaseg.data.synthetic import PRESETS, generate_dataset
from instaseg.data.validation import check_coco
from instaseg.errors import InstasegError
from instaseg.utils.files import atomic_write_text, prepare_output_dir
from instaseg.visualization.render import render_dataset

DEFAULT_RUN_DIR = Path("runs/demo")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the main job on the built-in benchmark")
    parser.add_argument("--out", type=Path, default=None,
                        help="run folder (default: runs/demo, or runs/demo-2, -3... if that exists)")
    parser.add_argument("--preset", default="bench", choices=sorted(PRESETS),
                        help="built-in dataset preset (default: bench)")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    parser.set_defaults(func=run)


def next_free_run_dir(base: Path) -> Path:
    """``base`` if unused, else the first free ``base-2``, ``base-3``...: a rerun never clobbers a run."""
    if not base.exists() or not any(base.iterdir()):
        return base
    index = 2
    while (candidate := base.with_name(f"{base.name}-{index}")).exists():
        index += 1
    return candidate


def run(args: argparse.Namespace) -> int:
    run_dir = args.out if args.out is not None else next_free_run_dir(DEFAULT_RUN_DIR)
    run_dir = prepare_output_dir(run_dir, overwrite=args.overwrite)
    print(f"instaseg demo -> {run_dir}")

    started = time.perf_counter()
    print(f"[1/3] generating the built-in '{args.preset}' dataset")
    paths = generate_dataset(PRESETS[args.preset], run_dir / "data", overwrite=args.overwrite)
    print(f"      done in {time.perf_counter() - started:.1f} s")

    print("[2/3] validating annotations and images (the checks training runs first)")
    for split in ("train", "val"):
        report = check_coco(paths[split], check_images=True)
        print(f"      {paths[split].name}: {len(report.errors)} errors, {len(report.warnings)} warnings")
        if report.errors:
            raise InstasegError("the generated dataset failed validation:\n"
                                + "\n".join(str(p) for p in report.errors[:20]))

    print("[3/3] drawing previews of the validation split")
    val = read_coco(paths["val"])
    summary = render_dataset(val, run_dir / "previews", limit=32, overwrite=args.overwrite)
    statistics = {split: dataset_statistics(read_coco(paths[split])) for split in ("train", "val")}
    report_path = run_dir / "report.md"
    atomic_write_text(report_path, _report(args.preset, statistics, summary.grid.relative_to(run_dir)))
    print(f"      {summary.count} overlays, grid preview {summary.grid}")
    print(f"report: {report_path}  ({time.perf_counter() - started:.1f} s in all)")
    return 0


def _report(preset: str, statistics: dict, grid: Path) -> str:
    sections = [f"# instaseg demo\n\nBuilt-in dataset preset `{preset}`, generated, validated and drawn.\n"]
    for split, stats in statistics.items():
        sections.append(f"## {split}\n\n```\n{format_statistics(stats)}\n```\n")
    sections.append(f"## Validation previews\n\n![grid]({grid.as_posix()})\n")
    return "\n".join(sections)
