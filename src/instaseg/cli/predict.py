"""``instaseg predict``: run a checkpoint on images; COCO results, instance-ID masks and overlays."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from instaseg.data.images import ImageReadError, read_image
from instaseg.errors import InstasegError
from instaseg.inference.output_layout import IMAGES_FILE, MASKS_DIR, OVERLAYS_DIR, RESULTS_FILE
from instaseg.inference.sources import SourceImage, expand_source
from instaseg.utils.files import prepare_output_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="run a trained checkpoint on images")
    parser.add_argument("--weights", type=Path, required=True,
                        help="checkpoint (.safetensors) from training")
    parser.add_argument("--source", required=True,
                        help="an image, a folder (searched recursively) or a quoted glob ('imgs/**/*.jpg')")
    parser.add_argument("--out", type=Path, required=True,
                        help=f"output folder: {RESULTS_FILE}, {IMAGES_FILE}, {MASKS_DIR}/, {OVERLAYS_DIR}/")
    parser.add_argument("--score-threshold", type=float, default=0.5,
                        help="keep instances scoring above it (default 0.5)")
    parser.add_argument("--max-instances", type=int, default=100,
                        help="at most this many per image, the best (default 100)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--batch", type=int, default=1, help="images per model call (default 1)")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instaseg.inference.predictor import Predictor  # torch and the models: only when predicting
    from instaseg.inference.writers import PredictionWriter

    if args.batch < 1:
        raise InstasegError(f"--batch must be at least 1; got {args.batch}")
    # Everything that can be refused is checked before the output folder is made, the quick checks first.
    sources = expand_source(args.source, exclude=args.out)
    if args.out.exists():
        prepare_output_dir(args.out, overwrite=args.overwrite)  # refuses a non-empty folder; makes nothing
    predictor = Predictor.from_checkpoint(args.weights, device=args.device,
                                          score_threshold=args.score_threshold,
                                          max_instances=args.max_instances)
    out_dir = prepare_output_dir(args.out, overwrite=args.overwrite)
    writer = PredictionWriter(out_dir, predictor.class_names, predictor.category_ids)

    # Image ids are positions in the sorted source list (1..N), whether or not every image can be read.
    numbered = list(enumerate(sources, start=1))
    skipped = 0
    instance_count = 0
    with tqdm(total=len(numbered), desc="predicting", unit="img") as bar:
        for start in range(0, len(numbered), args.batch):
            loaded: list[tuple[int, SourceImage, np.ndarray]] = []
            for image_id, source in numbered[start:start + args.batch]:
                try:
                    loaded.append((image_id, source, read_image(source.path)))
                except ImageReadError as error:  # the message starts with the file's path
                    tqdm.write(f"skipped: {error}")
                    skipped += 1
            outputs = predictor.predict_batch([pixels for _, _, pixels in loaded])
            for (image_id, source, pixels), instances in zip(loaded, outputs):
                writer.write(image_id, source, pixels, instances)
                instance_count += len(instances)
            bar.update(len(numbered[start:start + args.batch]))
    writer.finish()

    print(f"predicted {writer.count} image(s), {instance_count} instance(s) -> {out_dir}"
          + (f"; skipped {skipped} unreadable" if skipped else ""))
    return 0 if writer.count else 1
