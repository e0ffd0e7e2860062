"""Classification losses: torchvision's sigmoid focal loss (Lin et al., 2017), re-exported from one place."""

from torchvision.ops import sigmoid_focal_loss

__all__ = ["sigmoid_focal_loss"]
