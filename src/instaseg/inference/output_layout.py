"""The names ``instaseg predict`` gives what it writes (apart from the writers, so the CLI can name them in
its help without loading torch)."""

RESULTS_FILE = "results.json"
IMAGES_FILE = "images.json"
MASKS_DIR = "masks"
OVERLAYS_DIR = "overlays"
