"""What a synthetic dataset is made of: split sizes, image size, seed and scene knobs, and the named presets.

``PRESETS["bench"]`` is the standard benchmark every model in instaseg is measured on; change it and every
published figure becomes incomparable, so add a new preset instead.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from instaseg.errors import InstasegError

# Category ids are 1 + the index in this tuple.
CLASS_NAMES: tuple[str, ...] = ("ellipse", "rectangle", "triangle", "star", "hexagon", "cross", "ring",
                                "crescent")


@dataclass(frozen=True)
class SynthConfig:
    """One synthetic dataset, fully determined by these fields.

    Attributes:
        train: number of training images.
        val: number of validation images.
        size: images are ``size`` x ``size`` pixels.
        seed: every image is seeded from (seed, split, index), so output does not depend on worker count.
        empty_fraction: probability that an image holds no objects (background and distractors only).
        touching_fraction: probability that an image holds a cluster of same-class shapes placed edge to edge.
        max_instances: most objects drawn in one image (before occlusion drops some from the annotations).
        min_visible_pixels: an object with fewer visible pixels is drawn but not annotated.
        min_visible_fraction: an object with a smaller visible share of its drawn pixels is drawn but not
            annotated.
    """

    train: int = 1000
    val: int = 200
    size: int = 320
    seed: int = 0
    empty_fraction: float = 0.05
    touching_fraction: float = 0.3
    max_instances: int = 16
    min_visible_pixels: int = 16
    min_visible_fraction: float = 0.2

    def __post_init__(self) -> None:
        for name in ("train", "val", "seed", "min_visible_pixels"):
            if getattr(self, name) < 0:
                raise InstasegError(f"synthetic dataset: {name} must be >= 0; got {getattr(self, name)}")
        if self.size < 32:
            raise InstasegError(f"synthetic dataset: size must be >= 32 pixels; got {self.size}")
        if not 1 <= self.max_instances <= 255:  # objects are numbered in a uint8 owner map
            raise InstasegError(f"synthetic dataset: max_instances must be within [1, 255]; "
                                f"got {self.max_instances}")
        for name in ("empty_fraction", "touching_fraction", "min_visible_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise InstasegError(f"synthetic dataset: {name} must be within [0, 1]; "
                                    f"got {getattr(self, name)}")

    def to_dict(self) -> dict[str, int | float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


PRESETS: dict[str, SynthConfig] = {
    # The standard benchmark: 320 px images, 1000 train / 200 val, seed 0. Never change it.
    "bench": SynthConfig(train=1000, val=200, size=320, seed=0),
    # A few seconds' worth, for smoke tests and the demo.
    "tiny": SynthConfig(train=32, val=8, size=128, seed=0),
}
