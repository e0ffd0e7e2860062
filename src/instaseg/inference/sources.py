"""Expanding a ``--source`` (one image, a folder or a glob) into image files with unique output names."""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from instaseg.data.images import IMAGE_SUFFIXES, list_images
from instaseg.errors import InstasegError


@dataclass(frozen=True)
class SourceImage:
    """One input image.

    Attributes:
        path: the file to read.
        name: its path relative to the source folder (or glob base), '/'-separated, as results name it.
        stem: output file stem, unique within the run: the name without suffix, '/' replaced by '__'.
    """

    path: Path
    name: str
    stem: str


def expand_source(source: str | Path, exclude: Path | None = None) -> list[SourceImage]:
    """The images ``source`` names, sorted; a folder is searched recursively, a glob may use ``**``.

    Args:
        exclude: a folder whose files are left out (the output folder, so a rerun does not read its own
            overlays back in).

    Raises:
        InstasegError: when ``source`` names nothing or matches no image files.
    """
    text = str(source)
    path = Path(source)
    if path.is_file():
        return _named([path], path.parent)
    if path.is_dir():
        files, base = list_images(path), path
    elif glob.has_magic(text):
        matches = (Path(m) for m in glob.glob(text, recursive=True))
        files = sorted(m for m in matches if m.is_file() and m.suffix.lower() in IMAGE_SUFFIXES)
        base = _glob_base(text)
    else:
        raise InstasegError(f"{source}: no such image file or folder")
    if exclude is not None:
        excluded = exclude.resolve()
        files = [f for f in files if not f.resolve().is_relative_to(excluded)]
    if not files:
        raise InstasegError(f"{source}: matches no images (looked for {', '.join(IMAGE_SUFFIXES)})")
    return _named(files, base)


def _glob_base(pattern: str) -> Path:
    """The folder a glob starts from: its leading parts without wildcards."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _named(files: list[Path], base: Path) -> list[SourceImage]:
    names = [f.relative_to(base).as_posix() if f.is_relative_to(base) else f.name for f in files]
    return [SourceImage(path=f, name=n, stem=s) for f, n, s in zip(files, names, unique_stems(names))]


def unique_stems(names: list[str]) -> list[str]:
    """Output stems that never collide: 'a/x.png' -> 'a__x'; 'x.png' beside 'x.jpg' -> 'x_png', 'x_jpg'."""
    stems = [Path(n).with_suffix("").as_posix().replace("/", "__") for n in names]
    counts: dict[str, int] = {}
    for stem in stems:
        counts[stem] = counts.get(stem, 0) + 1
    # Same stem, different suffix: keep the suffix in the name.
    stems = [f"{s}_{Path(n).suffix.lstrip('.')}" if counts[s] > 1 else s for s, n in zip(stems, names)]
    taken: set[str] = set()
    unique = []
    for stem in stems:  # anything still colliding (contrived names) gets a number
        candidate, index = stem, 2
        while candidate in taken:
            candidate, index = f"{stem}-{index}", index + 1
        taken.add(candidate)
        unique.append(candidate)
    return unique
