import numpy as np

from instaseg.data.records import Annotation, Category, ImageRecord, InstanceDataset
from instaseg.data.stats import dataset_statistics, format_statistics
from instaseg.structures.masks import Mask


def square(side: int, size: int = 200) -> Mask:
    bitmap = np.zeros((size, size), bool)
    bitmap[:side, :side] = True
    return Mask.from_bitmap(bitmap)


def test_statistics_count_ranges_classes_and_empty_images():
    sides = [10, 31, 32, 95, 96, 150]  # areas straddle COCO's 32^2 and 96^2 limits
    annotations = [Annotation.from_mask(i + 1, 1 + i % 2, square(s)) for i, s in enumerate(sides)]
    annotations[0].iscrowd = True
    images = [ImageRecord(1, "a.png", 200, 200, annotations[:4]), ImageRecord(2, "b.png", 200, 200, []),
              ImageRecord(3, "c.png", 200, 200, annotations[4:])]
    stats = dataset_statistics(InstanceDataset(images, [Category(1, "odd"), Category(2, "even"), Category(3, "none")]))
    assert (stats.images, stats.empty_images, stats.instances, stats.crowd) == (3, 1, 6, 1)
    assert stats.area_ranges == {"small": 2, "medium": 2, "large": 2}
    assert stats.classes == {"odd": 3, "even": 3, "none": 0}
    assert stats.instances_per_image == {"mean": 2.0, "min": 0, "median": 2.0, "max": 4}
    assert stats.per_image_histogram["0"] == 1 and stats.per_image_histogram["3-5"] == 1
    text = format_statistics(stats)
    assert "small 2 (33.3%)" in text and "none 0" in text


def test_statistics_of_an_empty_dataset():
    stats = dataset_statistics(InstanceDataset([], [Category(1, "a")]))
    assert stats.instances == 0 and stats.area_percentiles == {}
    assert "images            0" in format_statistics(stats)
