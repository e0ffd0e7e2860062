"""Keeping the instances a user asked for: scores above a threshold, the best few, best first."""

from __future__ import annotations

import torch

from instaseg.structures.instances import Instances


def select_instances(instances: Instances, score_threshold: float, max_instances: int) -> Instances:
    """Instances scoring above ``score_threshold``, at most ``max_instances``, sorted by descending score
    (ties keep their order). Without scores, the first ``max_instances`` in container order."""
    if instances.scores is None:
        return instances[:max_instances]
    scores = instances.scores
    keep = torch.nonzero(scores > score_threshold).squeeze(1)
    order = keep[scores[keep].argsort(descending=True, stable=True)][:max_instances]
    if torch.equal(order, torch.arange(len(order), device=order.device)):
        return instances[: len(order)]  # already in order: a view, no copy of the masks
    return instances[order]
