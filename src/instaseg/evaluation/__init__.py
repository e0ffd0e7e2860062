"""Evaluation: COCO AP/AR (and, later, panoptic, boundary and error analysis)."""

from instaseg.evaluation.coco import COCOEvaluator, instances_to_coco_results

__all__ = ["COCOEvaluator", "instances_to_coco_results"]
