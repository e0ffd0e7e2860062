"""The built-in synthetic benchmark: textured shapes of eight classes on cluttered backgrounds, with
occlusion, touching same-class objects, distractors, blur and noise. ``PRESETS["bench"]`` is the standard
benchmark."""

from instaseg.data.synthetic.config import CLASS_NAMES, PRESETS, SynthConfig
from instaseg.data.synthetic.generator import generate_dataset, render_image
from instaseg.data.synthetic.scene import Scene, render_scene

__all__ = ["CLASS_NAMES", "PRESETS", "Scene", "SynthConfig", "generate_dataset", "render_image",
           "render_scene"]
