"""How fast ``instaseg data synth`` writes images: 1,000 images of 320 x 320 (PNG writing and the COCO JSON
included) into a temporary folder; the target is under 30 s on a 2-core machine.

    uv run python benchmarks/synth_speed.py [--images 1000] [--size 320] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from instaseg.data.synthetic import SynthConfig, generate_dataset

TARGET_SECONDS = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    config = SynthConfig(train=args.images, val=0, size=args.size)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        generate_dataset(config, Path(folder) / "synth", workers=args.workers, progress=False)
        seconds = time.perf_counter() - start
        megabytes = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file()) / 2 ** 20
    print(f"{args.images} images of {args.size}x{args.size}, {args.workers} workers, {os.cpu_count()} CPUs")
    print(f"total {seconds:.1f} s, {args.images / seconds:.1f} images/s, {megabytes:.0f} MiB written")
    passed = seconds < TARGET_SECONDS
    print(f"target < {TARGET_SECONDS:.0f} s: {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
