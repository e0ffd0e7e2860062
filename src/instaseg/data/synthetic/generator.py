"""Write a synthetic dataset to disk: PNG images under ``images/<split>/`` and one COCO JSON per split.

Each image is seeded from (seed, split, index) alone, so the bytes written depend only on the config and
never on how many worker processes share the work.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from instaseg.data.formats.coco import write_coco
from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.data.synthetic.config import CLASS_NAMES, SynthConfig
from instaseg.data.synthetic.scene import Scene, render_scene
from instaseg.errors import InstasegError
from instaseg.structures.masks import Mask
from instaseg.utils.files import prepare_output_dir

SPLITS: tuple[str, ...] = ("train", "val")


def categories() -> list[Category]:
    return [Category(id=index + 1, name=name, supercategory="shape")
            for index, name in enumerate(CLASS_NAMES)]


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The random stream of one image; independent of every other image's."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(split), index]))


def render_image(config: SynthConfig, split: str, index: int) -> Scene:
    """Image ``index`` (0-based) of ``split``, exactly as ``generate_dataset`` writes it."""
    return render_scene(config, image_rng(config.seed, split, index))


def file_name(split: str, index: int) -> str:
    """Path of image ``index`` (0-based) relative to ``images/``; numbered from 1 like the image ids."""
    return f"{split}/{index + 1:06d}.png"


def _record(config: SynthConfig, result: dict) -> ImageRecord:
    """An image record from a worker's result (annotation ids are numbered later, per split)."""
    annotations = [Annotation.from_mask(0, category_id, Mask.from_rle(rle))
                   for category_id, rle in result["instances"]]
    return ImageRecord(id=result["index"] + 1, file_name=file_name(result["split"], result["index"]),
                       width=config.size, height=config.size, annotations=annotations)


def _render_in_workers(config: SynthConfig, tasks: list[tuple[str, int]], image_root: Path, workers: int,
                       bar: tqdm) -> dict[tuple[str, int], dict]:
    """Share ``tasks`` among worker processes (see ``worker.py`` for why not multiprocessing)."""
    if workers == 1:
        from instaseg.data.synthetic.worker import render_and_write

        results = {}
        for split, index in tasks:
            results[(split, index)] = render_and_write(config, split, index, image_root)
            bar.update()
        return results
    processes, error_logs = [], []
    selector = selectors.DefaultSelector()
    for share in range(workers):
        job = {"config": config.to_dict(), "image_root": str(image_root), "tasks": tasks[share::workers]}
        error_log = tempfile.TemporaryFile(mode="w+")  # a file: a full pipe nobody reads would block the worker
        process = subprocess.Popen([sys.executable, "-m", "instaseg.data.synthetic.worker"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=error_log, text=True)
        error_logs.append(error_log)
        process.stdin.write(json.dumps(job))
        process.stdin.close()
        selector.register(process.stdout, selectors.EVENT_READ, process)
        processes.append(process)
    results: dict[tuple[str, int], dict] = {}
    try:
        open_streams = len(processes)
        while open_streams:
            for key, _ in selector.select():
                line = key.fileobj.readline()
                if not line:
                    selector.unregister(key.fileobj)
                    open_streams -= 1
                    continue
                result = json.loads(line)
                results[(result["split"], result["index"])] = result
                bar.update()
    finally:
        for process in processes:
            if process.poll() is None and len(results) < len(tasks):
                process.kill()
            process.wait()
        for process in processes:
            process.stdout.close()
        failed = [log for process, log in zip(processes, error_logs) if process.returncode != 0]
        details = ""
        if failed:
            failed[0].seek(0)
            details = failed[0].read()[-2000:]
        for log in error_logs:
            log.close()
    if failed or len(results) != len(tasks):
        raise InstasegError(f"synthetic dataset: a worker process failed:\n{details or 'it stopped early'}")
    return results


def _dataset(config: SynthConfig, split: str, images: list[ImageRecord], image_root: Path) -> InstanceDataset:
    next_id = 1
    for image in images:
        for annotation in image.annotations:
            annotation.id = next_id
            next_id += 1
    info = {"description": f"instaseg synthetic shapes, {split} split", "version": "1",
            "synth_config": config.to_dict()}
    return InstanceDataset(images=images, categories=categories(), image_root=image_root, info={"info": info})


def generate_dataset(config: SynthConfig, out_dir: str | Path, workers: int | None = None,
                     overwrite: bool = False, *, progress: bool = True) -> dict[str, Path]:
    """Render and write the dataset described by ``config``.

    Args:
        config: splits, image size, seed and scene settings.
        out_dir: receives ``train.json``, ``val.json`` and ``images/{train,val}/NNNNNN.png``.
        workers: processes rendering in parallel; ``os.cpu_count()`` when None. Output does not depend on it.
        overwrite: allow a non-empty ``out_dir``; its ``images/train`` and ``images/val`` are replaced.
        progress: show a progress bar on stderr.

    Returns:
        {"train": path of train.json, "val": path of val.json, "images": the image folder}.

    Raises:
        InstasegError: ``out_dir`` is not empty and ``overwrite`` is False, or is not a folder.
    """
    workers = max(1, workers if workers is not None else (os.cpu_count() or 1))
    out_dir = prepare_output_dir(out_dir, overwrite=overwrite)
    image_root = out_dir / "images"
    for split in SPLITS:
        # Stale images from an earlier, larger run would otherwise sit beside the new ones.
        shutil.rmtree(image_root / split, ignore_errors=True)
        (image_root / split).mkdir(parents=True)
    tasks = [(split, index) for split in SPLITS
             for index in range(config.train if split == "train" else config.val)]
    bar = tqdm(total=len(tasks), desc="synth", unit="img", file=sys.stderr, disable=not progress)
    results = _render_in_workers(config, tasks, image_root, min(workers, max(1, len(tasks))), bar)
    bar.close()
    records = [_record(config, results[task]) for task in tasks]
    outputs: dict[str, Path] = {}
    for split in SPLITS:
        split_records = [r for r, task in zip(records, tasks) if task[0] == split]
        outputs[split] = out_dir / f"{split}.json"
        write_coco(_dataset(config, split, split_records, image_root), outputs[split], mask_format="rle")
    outputs["images"] = image_root
    return outputs
