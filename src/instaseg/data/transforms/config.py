"""Augmentation settings and named recipes: plain data, importable without torch."""

from __future__ import annotations

from dataclasses import dataclass, replace

BLENDS = ("hard", "gaussian", "poisson")


@dataclass(frozen=True)
class AugmentConfig:
    """Every augmentation, each switchable on its own; probabilities are per training sample.

    Geometry runs first (mosaic replaces it for the samples it builds), then the mixing augmentations that
    draw other training images (copy-paste, mixup), then the photometric ones.
    """

    # Geometry.
    hflip: float = 0.5  # probability
    scale_jitter: tuple[float, float] | None = (0.75, 1.25)  # factor on the fitted size; None: off
    crop: bool = True  # random crop to the training size (after jitter up-scales past it)
    lsj: tuple[float, float] | None = None  # large-scale jitter: factor range, then pad / crop to exactly the size
    multi_scale: tuple[int, ...] | None = None  # longer side drawn from these (instead of the training size)
    # Mixing with other training images.
    mosaic: float = 0.0  # probability of a 2 x 2 mosaic of this and three other images
    copy_paste: float = 0.0  # probability of pasting instances of another image
    copy_paste_blend: str = "gaussian"  # hard | gaussian | poisson
    mixup: float = 0.0  # probability of blending with another image (both instance sets kept)
    mixup_beta: float = 8.0  # the blend ratio is drawn from Beta(b, b) (8: mostly 0.3-0.7)
    # Photometric.
    color_jitter: float = 0.2  # brightness/contrast/saturation strength; 0: off
    hue: float = 0.05  # hue shift (fraction of the colour circle), with colour jitter
    blur: float = 0.0  # probability of a Gaussian blur
    noise: float = 0.0  # standard deviation of additive Gaussian noise, in units of the 0-255 range / 255
    # Bookkeeping.
    min_visible_area: int = 16  # pixels; smaller remnants of cropped or covered instances are dropped

    def __post_init__(self) -> None:
        if self.copy_paste_blend not in BLENDS:
            raise ValueError(f"copy_paste_blend must be one of {', '.join(BLENDS)}, not {self.copy_paste_blend!r}")
        for name in ("hflip", "mosaic", "copy_paste", "mixup", "blur"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a probability in [0, 1], not {getattr(self, name)}")
        if self.lsj is not None and not 0 < self.lsj[0] <= self.lsj[1]:
            raise ValueError(f"lsj must be a range 0 < low <= high, not {self.lsj}")

    @property
    def mixes_images(self) -> bool:
        """Whether a sample needs other training images."""
        return self.mosaic > 0 or self.copy_paste > 0 or self.mixup > 0

    @classmethod
    def from_dict(cls, values: dict) -> "AugmentConfig":
        """From a run's config.json (JSON turns tuples into lists)."""
        values = dict(values)
        for key in ("scale_jitter", "lsj", "multi_scale"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)


_NONE = AugmentConfig(hflip=0.0, scale_jitter=None, crop=False, color_jitter=0.0)
_BASIC = AugmentConfig()

# Named recipes: 'basic' is the default; each 'basic+X' adds one augmentation, 'scratch' all of them.
RECIPES: dict[str, AugmentConfig] = {
    "none": _NONE,
    "basic": _BASIC,
    "lsj": replace(_BASIC, scale_jitter=None, lsj=(0.1, 2.0)),
    "multi_scale": replace(_BASIC, multi_scale=(256, 288, 320, 352, 384)),
    "copy_paste": replace(_BASIC, copy_paste=0.5),
    "mosaic": replace(_BASIC, mosaic=0.5),
    "mixup": replace(_BASIC, mixup=0.3),
    "photometric": replace(_BASIC, blur=0.2, noise=0.03),
    "scratch": replace(_BASIC, scale_jitter=None, lsj=(0.3, 2.0), copy_paste=0.5, mosaic=0.3, mixup=0.15,
                       blur=0.1, noise=0.02),
}


# The default for training: the best recipe of the ablation where data is scarce (200 training images seen
# about six times each), where copy-paste beat every other recipe; see benchmarks/README.md.
DEFAULT_RECIPE = "copy_paste"


def default_augment() -> AugmentConfig:
    return RECIPES[DEFAULT_RECIPE]


def recipe(name: str) -> AugmentConfig:
    """The named recipe; unknown names list the known ones."""
    if name not in RECIPES:
        raise ValueError(f"unknown augmentation recipe {name!r}; choose from {', '.join(RECIPES)}")
    return RECIPES[name]
