"""Dataset statistics: instances per image, COCO area ranges, class balance."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from instaseg.data.records import InstanceDataset

# COCO's area ranges (pixels): small < 32^2 <= medium < 96^2 <= large.
SMALL_MAX = 32 ** 2
MEDIUM_MAX = 96 ** 2


@dataclass
class DatasetStatistics:
    images: int
    empty_images: int
    instances: int
    crowd: int
    instances_per_image: dict[str, float]  # mean, min, median, max
    per_image_histogram: dict[str, int]  # "0", "1-2", "3-5", "6-10", "11-20", ">20"
    area_ranges: dict[str, int]  # small, medium, large
    area_percentiles: dict[str, float]  # p5, p25, p50, p75, p95
    classes: dict[str, int]  # category name -> instances


_BINS = [(0, 0, "0"), (1, 2, "1-2"), (3, 5, "3-5"), (6, 10, "6-10"), (11, 20, "11-20"), (21, 10 ** 9, ">20")]


def dataset_statistics(dataset: InstanceDataset) -> DatasetStatistics:
    counts = np.array([len(image.annotations) for image in dataset.images], dtype=np.int64)
    areas = np.array([a.area if a.area is not None else 0.0 for _, a in dataset.annotations()], np.float64)
    names = dataset.category_names()
    classes = Counter(names.get(a.category_id, str(a.category_id)) for _, a in dataset.annotations())
    per_image = ({"mean": float(counts.mean()), "min": int(counts.min()), "median": float(np.median(counts)),
                  "max": int(counts.max())} if counts.size else {"mean": 0.0, "min": 0, "median": 0.0, "max": 0})
    return DatasetStatistics(
        images=len(dataset.images), empty_images=int((counts == 0).sum()), instances=int(counts.sum()),
        crowd=sum(a.iscrowd for _, a in dataset.annotations()),
        instances_per_image=per_image,
        per_image_histogram={label: int(((counts >= low) & (counts <= high)).sum()) for low, high, label in _BINS},
        area_ranges={"small": int((areas < SMALL_MAX).sum()),
                     "medium": int(((areas >= SMALL_MAX) & (areas < MEDIUM_MAX)).sum()),
                     "large": int((areas >= MEDIUM_MAX).sum())},
        area_percentiles=({f"p{q}": float(np.percentile(areas, q)) for q in (5, 25, 50, 75, 95)}
                          if areas.size else {}),
        classes={name: classes.get(name, 0) for name in (c.name for c in dataset.categories)},
    )


def format_statistics(stats: DatasetStatistics) -> str:
    """A plain-text table for terminals and reports."""
    total = max(stats.instances, 1)
    per = stats.instances_per_image
    lines = [
        f"images            {stats.images} ({stats.empty_images} with no instances)",
        f"instances         {stats.instances} ({stats.crowd} crowd)",
        f"per image         mean {per['mean']:.2f}, min {per['min']}, median {per['median']:.0f}, max {per['max']}",
        "per-image counts  " + ", ".join(f"{k}: {v}" for k, v in stats.per_image_histogram.items()),
        "area ranges       " + ", ".join(f"{k} {v} ({100 * v / total:.1f}%)" for k, v in stats.area_ranges.items()),
    ]
    if stats.area_percentiles:
        lines.append("area percentiles  " + ", ".join(f"{k} {v:.0f}" for k, v in stats.area_percentiles.items()))
    lines.append("classes           " + ", ".join(f"{k} {v} ({100 * v / total:.1f}%)"
                                                  for k, v in stats.classes.items()))
    return "\n".join(lines)
