"""Pictures of instances: overlays and preview grids."""

from instaseg.visualization.overlay import draw_instances, instance_color
from instaseg.visualization.grid import make_grid

__all__ = ["draw_instances", "instance_color", "make_grid"]
