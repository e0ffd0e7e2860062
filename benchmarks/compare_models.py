"""The side-by-side table of instaseg's models and the Ultralytics peers, as Markdown for the README, from
the results JSON files that benchmarks/train_bench.py and benchmarks/peer_ultralytics.py wrote; then the
default model against the stronger peer (mask AP ratio, training images/s, latency at the training size).

    uv run python benchmarks/compare_models.py                                   # runs/bench_train + runs/bench_peer
    uv run python benchmarks/compare_models.py --ours runs/bench_60/results.json --peers runs/bench_peer_60/results.json

Rows are taken as they are: run both scripts with the same --minutes, data and threads, back to back.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from _common import REPO_ROOT

from instaseg.models import DEFAULT_MODEL  # noqa: E402  (torch-free)

COLUMNS = (("model", "model", "s"), ("minutes", "min", ".0f"), ("images_per_s", "train img/s", ".2f"),
           ("peak_rss_train_mib", "peak RSS MiB", ".0f"), ("mask_AP", "mask AP", ".3f"),
           ("mask_AP50", "AP50", ".3f"), ("mask_AP75", "AP75", ".3f"), ("APs", "APs", ".3f"), ("APm", "APm", ".3f"),
           ("APl", "APl", ".3f"), ("boundary_AP", "boundary AP", ".3f"), ("parameters_m", "params M", ".2f"),
           ("gflops", "GFLOPs", ".1f"), ("latency", "latency 1x p50 / p90 ms", "s"),
           ("latency_large", "latency 2x p50 / p90 ms", "s"))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ours", type=Path, default=REPO_ROOT / "runs" / "bench_train" / "results.json")
    parser.add_argument("--peers", type=Path, default=REPO_ROOT / "runs" / "bench_peer" / "results.json")
    parser.add_argument("--default", default=DEFAULT_MODEL, help="the row compared with the peers")
    return parser.parse_args(argv)


def read_rows(path: Path) -> list[dict]:
    if not path.is_file():
        raise SystemExit(f"{path}: no results; run the benchmark that writes it first")
    payload = json.loads(path.read_text(encoding="utf-8"))
    return list(payload["models"].values()) if "models" in payload else [payload]


def cell(row: dict, key: str, spec: str) -> str:
    if key in ("APs", "APm", "APl"):
        value = row.get("metrics", {}).get("segm", {}).get(key)
    elif key in ("latency", "latency_large"):
        prefix = "latency" if key == "latency" else "latency_large"
        median, p90 = row.get(f"{prefix}_median_ms"), row.get(f"{prefix}_p90_ms")
        return "-" if median is None else f"{median:.1f} / {p90:.1f}"
    else:
        value = row.get(key)
    return "-" if value is None else format(value, spec)


def markdown_table(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(header for _, header, _ in COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(row, key, spec) for key, _, spec in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def verdict(ours: dict, peers: list[dict]) -> str:
    stronger = max(peers, key=lambda row: row["mask_AP"])
    return (f"{ours['model']} against the stronger peer ({stronger['model']}): mask AP "
            f"{ours['mask_AP'] / max(stronger['mask_AP'], 1e-9):.2f}x, training images/s "
            f"{ours['images_per_s'] / stronger['images_per_s']:.2f}x, latency at 1x "
            f"{ours['latency_median_ms'] / stronger['latency_median_ms']:.2f}x (p50)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ours, peers = read_rows(args.ours), read_rows(args.peers)
    print(markdown_table([*ours, *peers]))
    default = [row for row in ours if row["model"] == args.default]
    if default and peers:
        print()
        print(verdict(default[0], peers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
