"""``instaseg predict``: run a checkpoint on images; COCO results, instance-ID masks and overlays.

Without ``--gt`` the images are numbered 1..N in sorted order; with ``--gt VAL.json`` the results carry the
ground truth's image ids (every image it lists, or those of ``--source``), so ``instaseg eval`` scores them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tqdm import tqdm

from instaseg.errors import InstasegError
from instaseg.inference.output_layout import IMAGES_FILE, MASKS_DIR, OVERLAYS_DIR, RESULTS_FILE
from instaseg.inference.sources import SourceImage, expand_source, unique_stems
from instaseg.utils.files import prepare_output_dir


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="run a trained checkpoint on images", description=__doc__)
    parser.add_argument("--weights", type=Path, required=True,
                        help="checkpoint (.safetensors) from training")
    parser.add_argument("--source",
                        help="an image, a folder (searched recursively) or a quoted glob ('imgs/**/*.jpg'); "
                             "optional with --gt (default: every image it lists)")
    parser.add_argument("--gt", type=Path, metavar="VAL.json",
                        help="ground-truth COCO file: results keyed by its image ids, ready for instaseg eval")
    parser.add_argument("--images", type=Path, help="image folder of --gt (default: images/ beside it)")
    parser.add_argument("--out", type=Path, required=True,
                        help=f"output folder: {RESULTS_FILE}, {IMAGES_FILE}, {MASKS_DIR}/, {OVERLAYS_DIR}/")
    parser.add_argument("--score-threshold", type=float, default=0.5,
                        help="keep instances scoring above it (default 0.5; use 0.001 for results to score "
                             "with COCO AP)")
    parser.add_argument("--max-instances", type=int, default=100,
                        help="at most this many per image, the best (default 100)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument("--batch", type=int, default=1, help="images per model call (default 1)")
    parser.add_argument("--workers", type=int, default=0, help="processes reading images ahead (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="allow a non-empty --out folder")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from instaseg.inference.predictor import Predictor  # torch and the models: only when predicting
    from instaseg.inference.writers import PredictionWriter

    if args.batch < 1:
        raise InstasegError(f"--batch must be at least 1; got {args.batch}")
    if args.workers < 0:
        raise InstasegError(f"--workers must be 0 or more; got {args.workers}")
    # Everything that can be refused is checked before the output folder is made, the quick checks first.
    numbered = _numbered_sources(args)
    if args.out.exists():
        prepare_output_dir(args.out, overwrite=args.overwrite)  # refuses a non-empty folder; makes nothing
    predictor = Predictor.from_checkpoint(args.weights, device=args.device, score_threshold=args.score_threshold,
                                          max_instances=args.max_instances)
    out_dir = prepare_output_dir(args.out, overwrite=args.overwrite)
    writer = PredictionWriter(out_dir, predictor.class_names, predictor.category_ids)

    skipped = instance_count = 0
    predictions = predictor.predict_files([source.path for _, source in numbered], batch_size=args.batch,
                                          workers=args.workers)
    for prediction in tqdm(predictions, total=len(numbered), desc="predicting", unit="img"):
        image_id, source = numbered[prediction.index]
        if prediction.error is not None:  # the message starts with the file's path
            tqdm.write(f"skipped: {prediction.error}")
            skipped += 1
            continue
        writer.write(image_id, source, prediction.pixels, prediction.instances)
        instance_count += len(prediction.instances)
    writer.finish()

    print(f"predicted {writer.count} image(s), {instance_count} instance(s) -> {out_dir}"
          + (f"; skipped {skipped} unreadable" if skipped else ""))
    return 0 if writer.count else 1


def _numbered_sources(args: argparse.Namespace) -> list[tuple[int, SourceImage]]:
    """(image id, source) pairs: positions 1..N in the sorted sources, or the ground truth's ids."""
    if args.gt is None:
        if args.source is None:
            raise InstasegError("say what to predict: --source IMAGES, or --gt VAL.json for its images")
        if args.images is not None:
            raise InstasegError("--images is the image folder of --gt; without --gt, pass the images as --source")
        return list(enumerate(expand_source(args.source, exclude=args.out), start=1))
    from instaseg.data.formats.coco import read_coco

    dataset = read_coco(args.gt, args.images, check_images=True)  # names missing or mis-sized images
    records = {dataset.image_path(record).resolve(): record for record in dataset.images}
    if args.source is None:
        names = [record.file_name for record in dataset.images]
        sources = [SourceImage(path=dataset.image_path(record), name=record.file_name, stem=stem)
                   for record, stem in zip(dataset.images, unique_stems(names))]
        return [(record.id, source) for record, source in zip(dataset.images, sources)]
    sources = expand_source(args.source, exclude=args.out)
    unknown = [source.name for source in sources if source.path.resolve() not in records]
    if unknown:
        raise InstasegError(f"{len(unknown)} of {len(sources)} images of --source are not images of {args.gt} "
                            f"(resolved under {dataset.image_root}): {', '.join(unknown[:5])}"
                            + (" ..." if len(unknown) > 5 else "") + "; leave --source out to predict every "
                            "image of the ground truth")
    return [(records[source.path.resolve()].id, source) for source in sources]
