"""Label assignment for dense detectors: which anchor points learn which object."""

from instaseg.models.assigners.task_aligned import Assignment, TaskAlignedAssigner

__all__ = ["Assignment", "TaskAlignedAssigner"]
