"""Converting datasets between formats, through the in-memory ``InstanceDataset`` hub.

``READERS`` and ``WRITERS`` map a format name to its function. Every reader takes the source path and
keyword options, every writer the dataset and the output path; both append plain sentences to ``notes``
(readers: problems found in the source; writers: what the target format cannot hold), which end up in
the ``ConversionReport``.

COCO output: ``out`` is the JSON file to write, and the images are copied into ``images/``
beside it with their ``file_name``s unchanged, so the result is self-contained and ``read_coco(out)``
finds them (``default_image_root``). Other outputs are folders. Existing outputs are replaced only with
``overwrite``, and the source itself never.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from instaseg.data.formats.cityscapes import read_cityscapes
from instaseg.data.formats.coco import read_coco, write_coco
from instaseg.data.formats.labelme import read_labelme
from instaseg.data.formats.mask_png import read_mask_png, write_mask_png
from instaseg.data.formats.reporting import problems_error
from instaseg.data.formats.yolo_seg import read_yolo_seg, write_yolo_seg
from instaseg.data.records import InstanceDataset
from instaseg.errors import InstasegError
from instaseg.utils.files import copy_file, prepare_output_dir


def read_coco_source(source: str | Path, *, images: str | Path | None = None,
                     notes: list[str] | None = None) -> InstanceDataset:
    """COCO as a source: the JSON file, images from ``images`` or ``default_image_root``, validated."""
    return read_coco(source, image_root=images)


def write_coco_with_images(dataset: InstanceDataset, out: str | Path, *,
                           notes: list[str] | None = None) -> int:
    """Write ``out`` (COCO JSON) and copy every image into ``images/`` beside it.

    Returns:
        The number of annotations written (COCO holds everything the hub holds, so all of them).
    """
    out = Path(out)
    images_dir = out.parent / "images"
    problems = []
    for image in dataset.images:
        relative = Path(image.file_name)
        if relative.is_absolute() or ".." in relative.parts:
            problems.append(f"image id {image.id}: field file_name {image.file_name!r} must be inside the "
                            "image folder")
        elif not dataset.image_path(image).is_file():
            problems.append(f"image id {image.id}: image file {dataset.image_path(image)} not found")
    if problems:
        raise problems_error(f"cannot write COCO to {out}", problems)
    for image in dataset.images:
        copy_file(dataset.image_path(image), images_dir / image.file_name)
    write_coco(dataset, out)
    return dataset.num_annotations


Reader = Callable[..., InstanceDataset]
Writer = Callable[..., int]

READERS: dict[str, Reader] = {
    "coco": read_coco_source,
    "yolo-seg": read_yolo_seg,
    "labelme": read_labelme,
    "mask-png": read_mask_png,
    "cityscapes": read_cityscapes,
}
WRITERS: dict[str, Writer] = {
    "coco": write_coco_with_images,
    "yolo-seg": write_yolo_seg,
    "mask-png": write_mask_png,
}
# Formats whose output is one file rather than a folder.
FILE_OUTPUTS = ("coco",)


@dataclass
class ConversionReport:
    """What a conversion read and wrote, and everything the user should know about it."""

    source: Path
    source_format: str
    output: Path
    output_format: str
    images: int = 0
    instances_read: int = 0
    instances_written: int = 0
    warnings: list[str] = field(default_factory=list)  # problems found in the source
    notices: list[str] = field(default_factory=list)  # what the output format cannot hold

    def summary(self) -> str:
        return (f"{self.source_format} -> {self.output_format}: {self.images} images, "
                f"{self.instances_written} of {self.instances_read} instances written to {self.output}")


def _keyword_options(function: Callable) -> set[str]:
    return {name for name, parameter in inspect.signature(function).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY and name != "notes"}


def _split_options(reader: Reader, writer: Writer, options: dict[str, Any], route: str
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route each option to the reader, the writer, or both; refuse options neither takes."""
    reader_names, writer_names = _keyword_options(reader), _keyword_options(writer)
    unused = sorted(set(options) - reader_names - writer_names)
    if unused:
        raise InstasegError(f"option(s) {', '.join(unused)} do not apply to {route}; it takes "
                            f"{', '.join(sorted(reader_names | writer_names)) or 'none'}")
    return ({k: v for k, v in options.items() if k in reader_names},
            {k: v for k, v in options.items() if k in writer_names})


def _refuse_clobbering(source: Path, out: Path, output_format: str, overwrite: bool) -> None:
    """Never write over the source; write over earlier outputs only when asked. Creates nothing."""
    inputs = {source.resolve(), source.resolve().parent if source.is_file() else source.resolve()}
    if out.resolve() in inputs:
        raise InstasegError(f"{out}: is the source being converted; choose another --out")
    if output_format not in FILE_OUTPUTS:
        if out.exists() and not out.is_dir():
            raise InstasegError(f"{out}: exists and is not a folder")
        if not overwrite and out.is_dir() and any(out.iterdir()):
            raise InstasegError(f"{out}: folder is not empty; choose another --out or pass --overwrite")
        return
    if out.is_dir():
        raise InstasegError(f"{out}: is a folder; for {output_format} --out is the JSON file to write")
    images_dir = out.parent / "images"
    if not overwrite and out.exists():
        raise InstasegError(f"{out}: already exists; choose another --out or pass --overwrite")
    if not overwrite and images_dir.is_dir() and any(images_dir.iterdir()):
        raise InstasegError(f"{images_dir}: the images folder beside {out.name} is not empty; choose "
                            "another --out or pass --overwrite")


def convert(src: str | Path, src_format: str, dst_format: str, out: str | Path, *, overwrite: bool = False,
            **options: Any) -> ConversionReport:
    """Read ``src`` as ``src_format`` and write it to ``out`` as ``dst_format``.

    Args:
        src: the source dataset (COCO: the JSON file; other formats: their folder).
        src_format: a key of ``READERS``.
        dst_format: a key of ``WRITERS``.
        out: COCO: the JSON file to write (images go to ``images/`` beside it); others: a folder.
        overwrite: replace existing outputs (never the source).
        **options: format options, each routed to the reader or writer that takes it: ``images`` (COCO
            image folder), ``labels`` (LabelMe labels file), ``default_class`` (mask-png), ``split``
            (Cityscapes split to read; YOLO-seg split folder to write), ``decimals`` (YOLO-seg).

    Raises:
        InstasegError: unknown formats, options that do not apply, outputs that exist.
        DatasetError: a source with problems, each named with its file and record.
    """
    if src_format not in READERS:
        raise InstasegError(f"cannot read {src_format!r}; readable formats: {', '.join(READERS)}")
    if dst_format not in WRITERS:
        raise InstasegError(f"cannot write {dst_format!r}; writable formats: {', '.join(WRITERS)}")
    src, out = Path(src), Path(out)
    if not src.exists():
        raise InstasegError(f"{src}: not found")
    reader, writer = READERS[src_format], WRITERS[dst_format]
    reader_options, writer_options = _split_options(reader, writer, options, f"{src_format} -> {dst_format}")
    _refuse_clobbering(src, out, dst_format, overwrite)

    report = ConversionReport(source=src, source_format=src_format, output=out, output_format=dst_format)
    dataset = reader(src, notes=report.warnings, **reader_options)
    report.images, report.instances_read = len(dataset), dataset.num_annotations
    # Created only now, so a source that fails to read leaves no empty output behind.
    if dst_format in FILE_OUTPUTS:
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        prepare_output_dir(out, overwrite=overwrite)
    report.instances_written = writer(dataset, out, notes=report.notices, **writer_options)
    return report
