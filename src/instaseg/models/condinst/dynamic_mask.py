"""The per-instance mask network of CondInst (Tian et al., 2020): a few 1x1 convolutions whose weights and
biases are predicted by the instance's own anchor point, applied to the shared mask features plus the
coordinates of each cell relative to that point (which tells two overlapping instances apart)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align


class DynamicMaskNet:
    """The layout of the predicted parameters; calling it runs every instance's network at once (batched
    matrix products, one per layer)."""

    def __init__(self, feature_channels: int, channels: int, layers: int) -> None:
        if layers < 2:
            raise ValueError(f"a dynamic mask network needs at least 2 layers; got {layers}")
        widths = [feature_channels + 2] + [channels] * (layers - 1) + [1]
        self.shapes = list(zip(widths[1:], widths[:-1]))  # (out, in) per layer
        self.num_params = sum(out * inp + out for out, inp in self.shapes)

    def __call__(self, params: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """(P, num_params) parameters and (P, C + 2, N) inputs -> (P, N) mask logits."""
        x, offset = inputs, 0
        for layer, (out, inp) in enumerate(self.shapes):
            weight = params[:, offset:offset + out * inp].reshape(-1, out, inp)
            offset += out * inp
            bias = params[:, offset:offset + out, None]
            offset += out
            x = torch.baddbmm(bias, weight, x)
            if layer < len(self.shapes) - 1:
                x = F.relu(x)
        return x[:, 0]


def instance_inputs(features: torch.Tensor, image_index: torch.Tensor, boxes: torch.Tensor, points: torch.Tensor,
                    scales: torch.Tensor, size: int, feature_stride: int) -> torch.Tensor:
    """The mask network's inputs of P instances: their mask features sampled on a ``size`` x ``size`` grid
    inside their boxes, plus each cell's offset from the instance's anchor point in units of ``scales``.

    Args:
        features: (B, C, h, w) at ``feature_stride``; image_index: (P,) which image each instance is in.
        boxes: (P, 4) xyxy sampling boxes; points: (P, 2) anchor points (x, y); scales: (P,) in pixels.
    Returns:
        (P, C + 2, size * size).
    """
    rois = torch.cat([image_index.to(boxes.dtype)[:, None], boxes], dim=1)
    sampled = roi_align(features, rois, size, spatial_scale=1 / feature_stride, sampling_ratio=2, aligned=True)
    steps = (torch.arange(size, device=boxes.device, dtype=boxes.dtype) + 0.5) / size  # cell centres in [0, 1]
    xs = boxes[:, 0, None] + steps[None] * (boxes[:, 2] - boxes[:, 0])[:, None]  # (P, size)
    ys = boxes[:, 1, None] + steps[None] * (boxes[:, 3] - boxes[:, 1])[:, None]
    offset_x = ((xs - points[:, 0, None]) / scales[:, None])[:, None, :].expand(-1, size, -1)  # (P, size, size)
    offset_y = ((ys - points[:, 1, None]) / scales[:, None])[:, :, None].expand(-1, -1, size)
    coordinates = torch.stack([offset_x, offset_y], dim=1)  # (P, 2, size, size)
    return torch.cat([sampled, coordinates], dim=1).flatten(2)
