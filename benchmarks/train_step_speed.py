"""Training-step speed of a model without the data loader: forward + losses, backward, optimiser step and EMA
on pre-augmented bench images, per batch size; and optionally torch.profiler's table of the costliest
operators, where to look before optimising.

The samples are prepared once (the basic recipe at 320 px) from the first --images training images and cycled,
so the figures are the model's own cost; `train_bench.py` measures the whole trainer (data workers included).

    uv run python benchmarks/train_step_speed.py --model yolact_csp_nano --batch-sizes 4 8 16
    uv run python benchmarks/train_step_speed.py --model yolact_csp_nano --batch-sizes 8 --profile
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

from _common import DEFAULT_BENCH_DIR, DEFAULT_THREADS, ensure_bench_data, format_table, set_threads

from instaseg.models import DEFAULT_MODEL, list_models


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=list_models())
    parser.add_argument("--model-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--images", type=int, default=160, help="training images prepared and cycled")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per batch size (after 3 warm-up)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's operator table")
    return parser.parse_args(argv)


def prepared_samples(count: int) -> tuple[list, int]:
    """The first ``count`` training images, augmented once, and the number of classes."""
    from instaseg.data.dataset import CategoryMap, ground_truth
    from instaseg.data.formats.coco import read_coco
    from instaseg.data.images import read_image
    from instaseg.data.transforms import AugmentConfig, build_train_transform

    dataset = read_coco(ensure_bench_data(DEFAULT_BENCH_DIR) / "train.json")
    categories = CategoryMap(dataset.categories)
    transform = build_train_transform(320, AugmentConfig())
    samples = []
    for record in dataset.images[:count]:
        pixels = torch.from_numpy(read_image(dataset.image_path(record))).permute(2, 0, 1).contiguous()
        samples.append(transform(pixels, ground_truth(record, categories)))
    return samples, len(categories)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    torch.manual_seed(0)
    from instaseg.engine.config import TrainConfig
    from instaseg.engine.ema import ModelEMA
    from instaseg.engine.optim import build_optimizer
    from instaseg.models import create_model
    from instaseg.models.options import parse_option

    samples, num_classes = prepared_samples(args.images)
    options = dict(parse_option(text) for text in args.model_option)
    rows = []
    for batch_size in args.batch_sizes:
        model = create_model(args.model, num_classes=num_classes, **options).train()
        config = TrainConfig(data="-", out="-", model=args.model)
        optimizer, ema = build_optimizer(model, config), ModelEMA(model)
        cursor = 0

        def step() -> None:
            nonlocal cursor
            chunk = [samples[(cursor + k) % len(samples)] for k in range(batch_size)]
            cursor += batch_size
            losses = model.loss([image for image, _ in chunk], [target for _, target in chunk])
            optimizer.zero_grad(set_to_none=True)
            sum(losses.values()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_grad_norm)
            optimizer.step()
            ema.update(model)

        for _ in range(3):
            step()
        seconds = []
        for _ in range(args.steps):
            started = time.perf_counter()
            step()
            seconds.append(time.perf_counter() - started)
        median = statistics.median(seconds)
        rows.append({"batch": batch_size, "step_ms": 1000 * median, "images_per_s": batch_size / median})
        print(f"batch {batch_size}: {1000 * median:.0f} ms a step (median of {args.steps}), "
              f"{batch_size / median:.2f} img/s", flush=True)
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as profiler:
                for _ in range(4):
                    step()
            print(profiler.key_averages().table(sort_by="cpu_time_total", row_limit=30))
    print(f"\n{args.model} {' '.join(args.model_option)}, {args.threads} threads, {args.images} bench images "
          "(basic recipe, 320 px) cycled, no data loader")
    print(format_table(rows, (("batch", "batch", "d"), ("step_ms", "ms / step", ".0f"),
                              ("images_per_s", "img/s", ".2f"))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
