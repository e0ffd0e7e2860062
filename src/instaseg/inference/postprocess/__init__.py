"""Post-processing every family shares: pasting masks, keeping the requested instances, painting instance-ID
maps and merging instances into panoptic maps, each with the same overlap rule (the higher score wins).

Import the modules directly (``from instaseg.inference.postprocess.paste import paste_masks``): the panoptic
merge needs only NumPy, the rest need torch.
"""
