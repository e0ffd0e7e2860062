"""The one instance-ID painter: an (H, W) map with 0 for background and k for the k-th instance."""

from __future__ import annotations

import numpy as np

from instaseg.structures.instances import Instances


def instance_id_map(instances: Instances) -> np.ndarray:
    """(H, W) map: 0 background, k where the k-th instance (1-based, container order) is.

    The overlap rule, everywhere in instaseg: where masks overlap, the earlier instance owns the pixel, so
    with score-sorted instances (as predictors return them) the higher score wins. uint8 for up to 255
    instances, uint16 up to 65,535.
    """
    if len(instances) > np.iinfo(np.uint16).max:
        raise ValueError(f"{len(instances)} instances do not fit a 16-bit ID map")
    dtype = np.uint8 if len(instances) <= np.iinfo(np.uint8).max else np.uint16
    id_map = np.zeros(instances.image_size, dtype=dtype)
    masks = instances.masks.cpu().numpy()  # (N, H, W) bool
    for index in range(len(masks) - 1, -1, -1):  # last first, so the first is painted last, on top
        id_map[masks[index]] = index + 1
    return id_map
