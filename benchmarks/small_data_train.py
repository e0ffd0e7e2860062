"""Training throughput on a tiny data set (3 training images, one batch per epoch), where per-epoch costs
dominate: worker start-up, validation and checkpoints.

Runs ``instaseg train`` twice per setting (E and 2E epochs) and prints the marginal images per second,
(E * batch) / (wall(2E) - wall(E)), which leaves out process start-up. ``--src`` points at another checkout's
``src`` folder to measure that code the same way (e.g. a worktree of an older commit).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import REPO_ROOT, format_table, warn_if_busy

SETTINGS = {
    "validate every epoch": [],
    "validate every 25 iterations": ["--eval-every", "0", "--eval-every-iters", "25"],
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=25, help="E: the short run; the long run is 2E")
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="mask_rcnn_r18_fpn")
    parser.add_argument("--src", type=Path, default=REPO_ROOT / "src", help="the instaseg source to measure")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    return parser.parse_args(argv)


def timed_run(args: argparse.Namespace, data: Path, out: Path, epochs: int, extra: list[str]) -> float:
    command = [sys.executable, "-m", "instaseg.cli.main", "train", "--data", str(data / "train.json"),
               "--val", str(data / "val.json"), "--out", str(out), "--epochs", str(epochs), "--img-size",
               str(args.image_size), "--batch", "4", "--workers", str(args.workers), "--model", args.model,
               "--warmup", "5", *extra]
    environment = {**os.environ, "PYTHONPATH": str(args.src)}
    started = time.perf_counter()
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warn_if_busy()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        subprocess.run([sys.executable, "-m", "instaseg.cli.main", "data", "synth", "--out", str(data), "--train",
                        "3", "--val", "2", "--size", str(args.image_size), "--seed", "5"], check=True,
                       env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")}, stdout=subprocess.DEVNULL)
        rows = []
        for name in args.settings:
            short = timed_run(args, data, Path(folder) / f"{len(rows)}a", args.epochs, SETTINGS[name])
            long = timed_run(args, data, Path(folder) / f"{len(rows)}b", 2 * args.epochs, SETTINGS[name])
            rows.append({"setting": name, "short_s": short, "long_s": long,
                         "images_per_s": args.epochs * 4 / max(long - short, 1e-9)})
            print(f"{name}: {args.epochs} epochs {short:.1f} s, {2 * args.epochs} epochs {long:.1f} s, "
                  f"{rows[-1]['images_per_s']:.2f} img/s", flush=True)
    print(f"\n{args.model}, 3 training images at {args.image_size} px, batch 4, {args.workers} workers, "
          f"source {args.src}")
    print(format_table(rows, (("setting", "setting", "s"), ("short_s", f"{args.epochs} epochs s", ".1f"),
                              ("long_s", f"{2 * args.epochs} epochs s", ".1f"), ("images_per_s", "img/s", ".2f"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
