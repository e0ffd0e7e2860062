"""COCO AP / AR identical to pycocotools: inputs, RLE decoding, IoU, matching, accumulation, the evaluator.

The per-detection work runs as compiled kernels (numba) on background threads and every core, overlapping
the Python reading of the records; the first evaluation after installing compiles them (about 9 s here)
into numba's cache, and later processes load them (about 0.5 s, plus about 1 s to import numba).
``evaluate_coco`` needs NumPy, numba and pycocotools; the trainer-facing ``COCOEvaluator`` and the
converter from ``Instances`` load torch, so they are imported on first use.
"""

from instaseg.evaluation.coco.evaluator import COCOEvaluation, evaluate_coco
from instaseg.evaluation.coco.inputs import EvaluationInputError
from instaseg.evaluation.coco.params import STAT_NAMES, EvalParams

__all__ = ["COCOEvaluation", "COCOEvaluator", "EvalParams", "EvaluationInputError", "STAT_NAMES", "evaluate_coco",
           "instances_to_coco_results"]


def __getattr__(name: str):
    if name == "COCOEvaluator":
        from instaseg.evaluation.coco.coco_evaluator import COCOEvaluator

        return COCOEvaluator
    if name == "instances_to_coco_results":
        from instaseg.evaluation.coco.results import instances_to_coco_results

        return instances_to_coco_results
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
