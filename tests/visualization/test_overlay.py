import numpy as np
import pytest

from instaseg.visualization import draw_instances, instance_color, make_grid


def two_squares() -> np.ndarray:
    masks = np.zeros((2, 60, 80), bool)
    masks[0, 10:30, 10:30] = True
    masks[1, 20:50, 40:70] = True
    return masks


def test_colors_are_stable_and_distinct():
    assert instance_color(7) == instance_color(7)
    colors = {instance_color(k) for k in range(20)}
    assert len(colors) == 20


@pytest.mark.parametrize("background", [0, 255])
def test_masks_are_tinted_and_background_untouched(background):
    image = np.full((60, 80, 3), background, np.uint8)
    overlay = draw_instances(image, two_squares(), [1, 2], class_names={1: "a", 2: "b"})
    assert overlay.shape == image.shape and overlay.dtype == np.uint8
    # Inside a mask the fill colour shows; far from every instance the image is unchanged.
    assert not np.array_equal(overlay[20, 20], image[20, 20])
    assert np.array_equal(overlay[55, 5], image[55, 5])
    assert np.array_equal(image, np.full_like(image, background))  # input not modified


def test_same_color_key_gives_same_fill_in_two_pictures():
    image = np.zeros((60, 80, 3), np.uint8)
    masks = two_squares()
    first = draw_instances(image, masks, [1, 2], color_keys=[11, 12], draw_contours=False, draw_boxes=False)
    second = draw_instances(image, masks[::-1].copy(), [2, 1], color_keys=[12, 11], draw_contours=False,
                            draw_boxes=False)
    assert np.array_equal(first[25, 20], second[25, 20])


def test_scores_add_label_pixels():
    image = np.zeros((60, 80, 3), np.uint8)
    plain = draw_instances(image, two_squares(), [1, 2], draw_boxes=False, class_names={})
    scored = draw_instances(image, two_squares(), [1, 2], scores=[0.9, 0.5], draw_boxes=False, class_names={})
    assert not np.array_equal(plain, scored)


def test_no_instances_returns_a_copy():
    image = np.zeros((10, 10, 3), np.uint8)
    assert np.array_equal(draw_instances(image, np.zeros((0, 10, 10), bool)), image)


def test_grid_tiles_keep_aspect_and_count():
    images = [np.full((40, 80, 3), 200, np.uint8)] * 5
    grid = make_grid(images, tile=32, gap=2)
    assert grid.shape == (2 * 32 + 3 * 2, 3 * 32 + 4 * 2, 3)
    assert grid[2 + 16, 2 + 16].tolist() == [200, 200, 200]  # centre of the first tile
    assert grid[2 + 2, 2 + 16].tolist() == [32, 32, 32]  # letterbox above the wide image
