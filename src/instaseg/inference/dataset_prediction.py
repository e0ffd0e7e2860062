"""Predicting every image of a dataset, results keyed by its image ids: validation, ``instaseg eval --weights``
and ``instaseg predict --gt`` all go through here and the predictor."""

from __future__ import annotations

from typing import Any, Iterator

from tqdm import tqdm

from instaseg.data.records import ImageRecord, InstanceDataset
from instaseg.errors import InstasegError
from instaseg.evaluation.base import Evaluator
from instaseg.inference.predictor import ImagePrediction, Predictor


def predict_dataset(predictor: Predictor, dataset: InstanceDataset, *, batch_size: int = 4, workers: int = 0,
                    progress: bool = False) -> Iterator[tuple[ImageRecord, ImagePrediction]]:
    """(record, prediction) for every image of ``dataset`` in order; an unreadable image raises (datasets are
    checked before they are predicted)."""
    records = dataset.images
    paths = [dataset.image_path(record) for record in records]
    with tqdm(total=len(records), desc="predicting", unit="img", disable=not progress, leave=False) as bar:
        for prediction in predictor.predict_files(paths, batch_size=batch_size, workers=workers):
            if prediction.error is not None:
                raise InstasegError(prediction.error)
            bar.update(1)
            yield records[prediction.index], prediction


def evaluate_predictor(predictor: Predictor, dataset: InstanceDataset, evaluator: Evaluator | None = None, *,
                       batch_size: int = 4, workers: int = 0, progress: bool = False) -> dict[str, Any]:
    """Metrics of ``predictor`` on ``dataset`` (COCO segm and bbox unless another evaluator is given).

    For AP, build the predictor with ``EVALUATION_SCORE_FLOOR`` and ``EVALUATION_MAX_INSTANCES``."""
    if evaluator is None:
        from instaseg.evaluation.coco import COCOEvaluator

        evaluator = COCOEvaluator(dataset)
    evaluator.reset()
    for record, prediction in predict_dataset(predictor, dataset, batch_size=batch_size, workers=workers,
                                              progress=progress):
        evaluator.process(record.id, prediction.instances)
    return evaluator.evaluate()
