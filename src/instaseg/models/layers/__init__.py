from instaseg.models.layers.norm import group_norm

__all__ = ["group_norm"]
