"""``instaseg demo``: the main job on the built-in data, end to end, offline.

Generate the built-in benchmark, validate it as training does, draw previews, train the default model for a
few minutes on the CPU, evaluate it with COCO AP, predict on validation images, and write a report.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from instaseg.data.synthetic import PRESETS
from instaseg.models import DEFAULT_MODEL, list_models
from instaseg.utils.files import prepare_output_dir

DEFAULT_RUN_DIR = Path("runs/demo")
# Training minutes: with data, checks, evaluation and predictions the demo ends within 8 minutes on 2 cores.
DEMO_MINUTES = 6.0
PREDICTION_SAMPLES = 16


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the main job on the built-in benchmark")
    parser.add_argument("--out", type=Path, default=None,
                        help="run folder (default: runs/demo, or runs/demo-2, -3... if that exists)")
    parser.add_argument("--preset", default="bench", choices=sorted(PRESETS),
                        help="built-in dataset preset (default: bench)")
    parser.add_argument("--minutes", type=float, default=DEMO_MINUTES,
                        help=f"training time budget (default: {DEMO_MINUTES:g})")
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list_models(), metavar="MODEL",
                        help=f"model to train (default {DEFAULT_MODEL}; see `instaseg models`)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
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
    from instaseg.workflows.demo import DemoSettings, run_demo

    run_dir = args.out if args.out is not None else next_free_run_dir(DEFAULT_RUN_DIR)
    run_dir = prepare_output_dir(run_dir, overwrite=args.overwrite)
    started = time.perf_counter()
    report = run_demo(DemoSettings(run_dir=run_dir, preset=args.preset, minutes=args.minutes, model=args.model,
                                   device=args.device, overwrite=args.overwrite))
    print(f"report: {report}  ({time.perf_counter() - started:.0f} s in all)")
    return 0
