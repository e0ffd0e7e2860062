"""Predicting every image of a dataset, results keyed by its image ids: validation, ``instaseg eval --weights``
and ``instaseg predict --gt`` all go through here and the predictor."""

from __future__ import annotations

from typing import Iterator

from tqdm import tqdm

from instaseg.data.records import ImageRecord, InstanceDataset
from instaseg.errors import InstasegError
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
