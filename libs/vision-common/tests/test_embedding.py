import numpy as np
import pytest

from vision_common.embedding import build_embedder
from vision_common.errors import ModelError
from vision_common.settings import VisionSettings
from vision_common.testing import iconic, perspective_copy


@pytest.fixture(scope="module")
def embedder():
    return build_embedder(VisionSettings(embed_batch_size=2))


def test_shapes_norms_and_gray_view(embedder, grocery):
    imgs = [iconic(grocery, n) for n in ("Arla-Sour-Milk", "Bravo-Apple-Juice", "Oatly-Oat-Milk")]
    rgb, gray = embedder.embed(imgs, [None] * 3)
    assert embedder.dim == 1280 and rgb.shape == gray.shape == (3, 1280) and rgb.dtype == np.float32
    assert np.allclose(np.linalg.norm(rgb, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(gray, axis=1), 1, atol=1e-5)
    assert (rgb * gray).sum(1).max() < 0.999  # the gray+CLAHE view is a different input


def test_batching_does_not_change_results(embedder, grocery):
    imgs = [iconic(grocery, n) for n in ("Arla-Sour-Milk", "Bravo-Apple-Juice", "Oatly-Oat-Milk")]
    a, _ = embedder.embed(imgs, [None] * 3)  # batch size 2 -> batches of 2 and 1 (x2 views)
    b = np.concatenate([embedder.embed([im], [None])[0] for im in imgs])
    assert np.allclose(a, b, atol=1e-4)


def test_warped_relit_copy_is_nearer_its_product_than_other_products(embedder, grocery):
    names = ["Tropicana-Apple-Juice", "Arla-Medium-Fat-Milk", "Oatly-Oat-Milk", "Alpro-Blueberry-Soyghurt",
             "God-Morgon-Orange-Juice", "Valio-Vanilla-Yoghurt"]
    cats = [iconic(grocery, n) for n in names]
    c_rgb, c_gray = embedder.embed(cats, [None] * len(cats))
    for i, im in enumerate(cats):
        scene, H = perspective_copy(im, relight=0.8, seed=i)
        import cv2

        mask = cv2.warpPerspective(np.full(im.shape[:2], 255, np.uint8), H, scene.shape[1::-1])
        q_rgb, q_gray = embedder.embed([scene], [mask])
        sim = np.maximum(q_rgb @ c_rgb.T, q_gray @ c_gray.T)[0]
        assert int(np.argmax(sim)) == i, (names[i], sim.round(3))


def test_mask_focuses_the_embedding_on_the_product(embedder, grocery):
    import cv2

    prod = iconic(grocery, "Tropicana-Apple-Juice")
    # the product small in a big frame full of other things
    tiles = [cv2.resize(iconic(grocery, n), (200, 200)) for n in ("Oatly-Oat-Milk", "Arla-Sour-Milk", "Bravo-Orange-Juice")]
    scene = np.vstack([np.hstack([tiles[(i + j) % 3] for j in range(4)]) for i in range(4)])
    scene[300:500, 300:500] = cv2.resize(prod, (200, 200))
    mask = np.zeros(scene.shape[:2], np.uint8)
    mask[300:500, 300:500] = 255
    c, _ = embedder.embed([prod], [None])
    with_mask, _ = embedder.embed([scene], [mask])
    without, _ = embedder.embed([scene], [None])
    assert (with_mask @ c.T)[0, 0] > (without @ c.T)[0, 0] + 0.1


def test_empty_input_and_mismatched_lengths(embedder):
    r, g = embedder.embed([], [])
    assert r.shape == (0, 1280)
    with pytest.raises(ValueError):
        embedder.embed([np.zeros((20, 20, 3), np.uint8)], [])


def test_clip_loads_a_local_model_and_embeds(tmp_path):
    transformers = pytest.importorskip("transformers")
    cfg = transformers.CLIPConfig(
        text_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                         vocab_size=99, max_position_embeddings=16, eos_token_id=2),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                           image_size=32, patch_size=8),
        projection_dim=24)
    transformers.CLIPModel(cfg).save_pretrained(tmp_path / "tiny-clip")
    e = build_embedder(VisionSettings(embed_model="clip", clip_model_path=tmp_path / "tiny-clip"))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (60, 40, 3), dtype=np.uint8)
    rgb, gray = e.embed([a, a, rng.integers(0, 255, (60, 40, 3), dtype=np.uint8)], [None] * 3)
    assert e.dim == 24 and rgb.shape == (3, 24)
    assert np.allclose(np.linalg.norm(rgb, axis=1), 1, atol=1e-5)
    assert np.allclose(rgb[0], rgb[1], atol=1e-5) and not np.allclose(rgb[0], rgb[2], atol=1e-3)
    # no spatial map in CLIP's pooled output: its only region is the whole image
    regions, _ = e.embed_regions([a])
    assert regions.shape == (1, 1, 24) and np.allclose(regions[0, 0], rgb[0], atol=1e-5)


def test_clip_without_a_model_path_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="CLIP_MODEL_PATH"):
        build_embedder(VisionSettings(embed_model="clip", clip_model_path=tmp_path / "nope"))
    with pytest.raises(ValueError, match="EMBED_MODEL"):
        build_embedder(VisionSettings(embed_model="resnet"))


def _tiny_dinov2(folder, registers: int = 0):
    transformers = pytest.importorskip("transformers")
    size = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, image_size=32,
                patch_size=8)
    if registers:
        model = transformers.Dinov2WithRegistersModel(
            transformers.Dinov2WithRegistersConfig(num_register_tokens=registers, **size))
    else:
        model = transformers.Dinov2Model(transformers.Dinov2Config(**size))
    model.save_pretrained(folder)
    return model.eval()


@pytest.mark.parametrize("registers", [0, 4])
def test_dinov2_embeds_the_mean_patch_token_and_pools_its_regions_from_the_patch_map(tmp_path, registers):
    import torch

    model = _tiny_dinov2(tmp_path / "tiny-dinov2", registers)
    # 50 px rounds to 6 whole patches of 8 px: a 6 x 6 patch map
    e = build_embedder(VisionSettings(embed_model="dinov2", dinov2_model_path=tmp_path / "tiny-dinov2",
                                      embed_input_size=50, embed_device="cpu"))
    assert e.dim == 32 and e.size == 48
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 255, (60, 40, 3), dtype=np.uint8) for _ in range(2))
    rgb, gray = e.embed([a, a, b], [None] * 3)
    assert rgb.shape == gray.shape == (3, 32) and np.allclose(np.linalg.norm(rgb, axis=1), 1, atol=1e-5)
    assert np.allclose(rgb[0], rgb[1], atol=1e-5) and not np.allclose(rgb[0], rgb[2], atol=1e-3)
    regions, _ = e.embed_regions([a])
    assert regions.shape == (1, 5, 32)
    assert np.allclose(regions[0, 0], rgb[0], atol=1e-5)  # row 0: the whole image, as embed gives it
    # the top-left window is the mean of the top-left 3 x 3 patch tokens, class and registers left out
    crop = e._views(a, None)[0]
    with torch.inference_mode():
        tokens = model(pixel_values=e._to_tensor([crop])).last_hidden_state[0, 1 + registers:].numpy()
    top_left = tokens.reshape(6, 6, 32)[:3, :3].reshape(-1, 32).mean(0)
    assert np.allclose(regions[0, 1], top_left / np.linalg.norm(top_left), atol=1e-4)
    assert not np.allclose(regions[0, 1], regions[0, 4], atol=1e-3)


def test_dinov2_wants_a_local_dinov2_folder(tmp_path):
    transformers = pytest.importorskip("transformers")
    with pytest.raises(ModelError, match="DINOV2_MODEL_PATH"):
        build_embedder(VisionSettings(embed_model="dinov2", dinov2_model_path=tmp_path / "nope"))
    vit = transformers.ViTConfig(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
                                 image_size=32, patch_size=8)
    transformers.ViTModel(vit).save_pretrained(tmp_path / "vit")
    with pytest.raises(ModelError, match="not DINOv2"):
        build_embedder(VisionSettings(embed_model="dinov2", dinov2_model_path=tmp_path / "vit"))


def test_onnx_and_torch_backends_agree(grocery):
    imgs = [iconic(grocery, n) for n in ("Arla-Sour-Milk", "Bravo-Apple-Juice")]
    onnx = build_embedder(VisionSettings(embed_backend="onnx", embed_device="cpu"))
    torch = build_embedder(VisionSettings(embed_backend="torch", embed_device="cpu"))
    a, b = onnx.embed(imgs, [None, None]), torch.embed(imgs, [None, None])
    assert np.allclose(a[0], b[0], atol=1e-4) and np.allclose(a[1], b[1], atol=1e-4)
    a, b = onnx.embed_regions(imgs), torch.embed_regions(imgs)
    assert a[0].shape == (2, 5, 1280) and np.allclose(a[0], b[0], atol=1e-4) and np.allclose(a[1], b[1], atol=1e-4)


def test_regions_are_the_whole_image_then_its_quadrants(embedder, grocery):
    """A 2x2 shelf: one product among three produce photos. The quadrant that holds the product
    is near its catalog image; the whole shelf is not (what the first pass asks per region)."""
    import cv2

    produce = sorted((grocery / "train" / "Fruit").glob("*/*.jpg"))[::40][:3]
    clutter = [cv2.resize(cv2.imread(str(p)), (200, 200)) for p in produce]
    for name in ("Tropicana-Apple-Juice", "Oatly-Oat-Milk"):
        product = cv2.resize(iconic(grocery, name), (200, 200))
        cat, _ = embedder.embed([product], [None])
        for q in range(4):
            tiles = clutter[:q] + [product] + clutter[q:]
            shelf = np.vstack([np.hstack(tiles[:2]), np.hstack(tiles[2:])])
            rgb, gray = embedder.embed_regions([shelf])
            assert rgb.shape == gray.shape == (1, 5, embedder.dim)
            assert np.allclose(np.linalg.norm(rgb, axis=2), 1, atol=1e-5)
            whole, _ = embedder.embed([shelf], [None])
            assert np.abs(rgb[0, 0] - whole[0]).max() < 1e-4  # row 0: the plain whole-image embedding
            sims = rgb[0] @ cat[0]
            assert sims.argmax() == 1 + q  # the quadrant holding it, in reading order
            assert sims[1 + q] > sims[0] + 0.1
