import numpy as np
import pytest
import torch
from PIL import Image

from instaseg.engine.checkpoint import ModelMetadata, save_checkpoint
from instaseg.errors import InstasegError
from instaseg.inference import Predictor
from instaseg.inference.sources import expand_source, unique_stems
from instaseg.models.base import Predicts
from instaseg.structures.instances import Instances

from ..tiny_model import META, build_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint


@pytest.fixture(scope="module")
def predictor(checkpoint):
    return Predictor.from_checkpoint(checkpoint, score_threshold=0.0)


def noise_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def assert_same(a: Instances, b: Instances) -> None:
    assert a.image_size == b.image_size
    assert torch.equal(a.labels, b.labels) and torch.equal(a.masks, b.masks)
    assert torch.allclose(a.boxes, b.boxes) and torch.allclose(a.scores, b.scores)


def test_from_checkpoint_reproduces_the_in_memory_model(checkpoint, predictor):
    image = noise_image(48, 64)
    in_memory = Predictor(build_tiny_model(), META, score_threshold=0.0)(image)
    loaded = predictor(image)
    assert len(loaded) > 0
    assert_same(loaded, in_memory)
    assert predictor.class_names == ["disc", "square"] and predictor.category_ids == [3, 7]
    assert predictor.image_size == 64 and not predictor.model.training


def test_results_equal_the_raw_model_filtered_afterwards(predictor):
    # The model drops low scores early (for speed), as asked; that must not change what is kept, nor the model.
    image = noise_image(40, 56, seed=3)
    tensor = predictor.preprocess(image)
    settings = {name: value.clone() for name, value in predictor.model.state_dict().items()}
    with torch.inference_mode():
        raw = predictor.model.predict([tensor], output_sizes=[(40, 56)], score_threshold=0.0)[0]
    threshold = float(raw.scores.median())
    strict = Predictor(predictor.model, META, score_threshold=threshold, max_instances=5)(image)
    order = raw.scores.argsort(descending=True)
    expected = raw[order[raw.scores[order] > threshold][:5]]
    assert 0 < len(strict) <= 5
    assert_same(strict, expected)
    assert all(torch.equal(value, settings[name]) for name, value in predictor.model.state_dict().items())
    assert len(predictor(image)) == len(raw)  # the limits of one call do not stick to the model


def test_masks_are_at_the_full_resolution_of_a_non_square_image(predictor):
    result = predictor(noise_image(90, 150))
    assert result.image_size == (90, 150) and result.masks.shape[1:] == (90, 150)
    assert result.masks.dtype == torch.bool and result.masks.any()
    assert float(result.boxes[:, 2].max()) <= 150 and float(result.boxes[:, 3].max()) <= 90


def test_exif_rotated_jpeg_is_predicted_as_shown(predictor, tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 100 wide x 60 high, shown rotated by 90 degrees: 60 wide x 100 high
    Image.fromarray(noise_image(60, 100)).save(path, exif=exif)
    from_path = predictor(path)
    assert from_path.image_size == (100, 60) and from_path.masks.shape[1:] == (100, 60)
    with Image.open(path) as image:
        assert_same(predictor(image), from_path)


def test_array_pil_and_path_inputs_agree(predictor, tmp_path):
    pixels = noise_image(50, 70, seed=1)
    Image.fromarray(pixels).save(tmp_path / "a.png")
    from_array = predictor(pixels)
    assert_same(predictor(Image.fromarray(pixels)), from_array)
    assert_same(predictor(tmp_path / "a.png"), from_array)
    assert_same(predictor(str(tmp_path / "a.png")), from_array)
    # Gray: a 2-D array, its PNG and the same values as RGB are one image.
    gray = pixels[:, :, 0]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    from_gray = predictor(gray)
    assert_same(predictor(tmp_path / "gray.png"), from_gray)
    assert_same(predictor(np.repeat(gray[:, :, None], 3, axis=2)), from_gray)


def test_score_threshold_and_max_instances_are_respected_best_first(checkpoint, predictor):
    image = noise_image(64, 64, seed=2)
    everything = predictor(image)
    threshold = float(everything.scores.median())
    limited = Predictor.from_checkpoint(checkpoint, score_threshold=threshold, max_instances=3)(image)
    assert len(limited) == 3
    assert bool((limited.scores > threshold).all())
    assert bool((limited.scores[:-1] >= limited.scores[1:]).all())
    assert torch.allclose(limited.scores, everything.scores[:3])
    assert bool((everything.scores[:-1] >= everything.scores[1:]).all())


def test_a_list_gives_a_list_in_order_whatever_the_batch_size(predictor):
    same_shape = [noise_image(40, 64, seed=seed) for seed in (4, 5, 6)]
    singles = [predictor(i) for i in same_shape]
    batched = predictor(same_shape, batch_size=2)
    assert isinstance(batched, list) and len(batched) == 3
    for single, batch in zip(singles, batched):
        assert len(batch) == len(single) > 0
        assert torch.allclose(batch.scores, single.scores, atol=1e-4)
    # Mixed shapes share a padded batch; each result still comes back at its own image's size, in order.
    mixed = predictor([noise_image(40, 64), noise_image(64, 30), noise_image(52, 52)], batch_size=3)
    assert [r.image_size for r in mixed] == [(40, 64), (64, 30), (52, 52)]
    assert predictor([]) == []


def test_bad_inputs_and_settings_are_clear_errors(checkpoint, predictor, tmp_path):
    with pytest.raises(InstasegError, match="numpy array"):
        predictor(torch.zeros(3, 8, 8))
    with pytest.raises(InstasegError, match=r"\(H, W, 3\)"):
        predictor(np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(ValueError, match="missing.png: image file not found"):
        predictor(tmp_path / "missing.png")
    with pytest.raises(InstasegError, match="score threshold"):
        Predictor.from_checkpoint(checkpoint, score_threshold=1.5)
    with pytest.raises(InstasegError, match="CUDA"):
        Predictor.from_checkpoint(checkpoint, device="cuda:99")


def test_checkpoints_that_cannot_be_used_are_clear_errors(predictor, tmp_path):
    with pytest.raises(InstasegError, match="checkpoint not found"):
        Predictor.from_checkpoint(tmp_path / "nothing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint at all")
    with pytest.raises(InstasegError, match="junk.safetensors: not a readable checkpoint"):
        Predictor.from_checkpoint(tmp_path / "junk.safetensors")
    # Metadata naming another config than the weights were trained with.
    wrong = ModelMetadata(**{**META.__dict__, "model_config": {**META.model_config, "fpn_channels": 24}})
    save_checkpoint(tmp_path / "wrong.safetensors", predictor.model.state_dict(), wrong)
    with pytest.raises(InstasegError, match="weights do not fit"):
        Predictor.from_checkpoint(tmp_path / "wrong.safetensors")


def test_sources_get_unique_output_stems(tmp_path):
    assert unique_stems(["a/x.png", "b/x.png", "x.png", "x.jpg"]) == ["a__x", "b__x", "x_png", "x_jpg"]
    for name in ("b/x.png", "a/x.png", "a/y.tif", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [s.name for s in expand_source(tmp_path)] == ["a/x.png", "a/y.tif", "b/x.png"]
    assert [s.stem for s in expand_source(f"{tmp_path}/*/x.png")] == ["a__x", "b__x"]
    assert [s.name for s in expand_source(tmp_path / "a" / "y.tif")] == ["y.tif"]
    with pytest.raises(InstasegError, match="matches no images"):
        expand_source(f"{tmp_path}/*.jpg")
    with pytest.raises(InstasegError, match="no such image file or folder"):
        expand_source(tmp_path / "absent")


class BrightRegion:
    """A method with no training: one instance, the pixels brighter than half, scored 0.9."""

    task = "instance"

    def predict(self, images, *, output_sizes=None, score_threshold=0.05, max_instances=100):
        results = []
        for image, size in zip(images, output_sizes or [tuple(i.shape[-2:]) for i in images]):
            bright = torch.nn.functional.interpolate(image.mean(0)[None, None], size=size)[0] > 0.5
            results.append(Instances.from_masks(bright, [0], [0.9]))
        return results


def test_a_method_without_training_predicts_through_the_predictor():
    method = BrightRegion()
    assert isinstance(method, Predicts)
    image = np.zeros((90, 120, 3), np.uint8)
    image[10:40, 20:100] = 255
    result = Predictor(method, META, score_threshold=0.5)(image)
    assert result.image_size == (90, 120) and result.labels.tolist() == [0]
    assert torch.allclose(result.boxes, torch.tensor([[20.0, 10, 100, 40]]), atol=1.5)  # through a 64 px resize
    assert len(Predictor(method, META, score_threshold=0.95)(image)) == 0


def test_batch_norms_are_folded_and_weights_laid_out_for_prediction_without_touching_the_model():
    from instaseg.models import create_model, resolve_config
    from instaseg.models.options import config_to_dict

    torch.manual_seed(0)
    model = create_model("yolact_csp_nano", num_classes=2, num_prototypes=8).eval()
    metadata = ModelMetadata(**{**META.__dict__, "model": "yolact_csp_nano",
                                "model_config": config_to_dict(resolve_config("yolact_csp_nano"))})
    predictor = Predictor(model, metadata, score_threshold=0.0, max_instances=20)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in predictor.model.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    # The dense families read channels-last: the folded copy stores its convolutions so, the model is unchanged.
    convolutions = [m.weight for m in predictor.model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in convolutions if w.shape[-1] > 1)
    assert all(m.weight.is_contiguous() for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    image = noise_image(64, 64)
    tensor = predictor.preprocess(image)
    with torch.inference_mode():
        folded = predictor.model.predict([tensor], score_threshold=0.0, max_instances=20)[0]
        plain = model.predict([tensor], score_threshold=0.0, max_instances=20)[0]
    assert torch.allclose(folded.scores, plain.scores, atol=1e-4)
    assert torch.allclose(folded.boxes, plain.boxes, atol=1e-2)
