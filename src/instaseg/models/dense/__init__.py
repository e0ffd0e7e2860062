"""Parts shared by the dense single-stage families (YOLACT, CondInst): the network up to the per-point head
(``DenseInstanceModel``), anchor points, the task-aligned detection loss and candidate selection, and the
stride-2 mask features."""

from instaseg.models.dense.detection import DetectionLosses, detection_losses, select_detections
from instaseg.models.dense.head import DenseHead, anchor_points, decode_boxes
from instaseg.models.dense.mask_features import MaskFeatureNet, downsampled_masks, semantic_loss
from instaseg.models.dense.model import DenseInstanceModel, DenseOutputs

__all__ = ["DenseHead", "DenseInstanceModel", "DenseOutputs", "DetectionLosses", "MaskFeatureNet", "anchor_points",
           "decode_boxes", "detection_losses", "downsampled_masks", "select_detections", "semantic_loss"]
