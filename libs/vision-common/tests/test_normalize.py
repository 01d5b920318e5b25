import numpy as np

from vision_common.normalize import clahe_gray, gray_clahe_bgr, mask_bbox, masked_crop, pad_to_square, resize_max_side


def test_clahe_raises_local_contrast_of_a_dim_image():
    rng = np.random.default_rng(0)
    dim = (100 + rng.integers(0, 12, (120, 120))).astype(np.uint8)  # low-contrast texture
    out = clahe_gray(np.dstack([dim] * 3))
    assert out.std() > 2 * dim.std()


def test_gray_clahe_bgr_has_equal_channels():
    img = np.random.default_rng(1).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    g = gray_clahe_bgr(img)
    assert g.shape == img.shape and np.array_equal(g[..., 0], g[..., 2])


def test_resize_and_pad_keep_shape_information():
    img = np.zeros((200, 100, 3), np.uint8)
    small, s = resize_max_side(img, 50)
    assert small.shape[:2] == (50, 25) and s == 0.25
    same, s1 = resize_max_side(img, 400)
    assert same is img and s1 == 1.0
    sq = pad_to_square(np.zeros((40, 10, 3), np.uint8))
    assert sq.shape[:2] == (40, 40) and sq[0, 0, 0] == 255 and sq[20, 20, 0] == 0


def test_masked_crop_crops_to_mask_and_paints_outside():
    img = np.full((100, 100, 3), 50, np.uint8)
    mask = np.zeros((100, 100), np.uint8)
    mask[20:60, 30:50] = 255
    assert mask_bbox(mask) == (30, 20, 50, 60)
    crop = masked_crop(img, mask, fill=255, margin=0.0)
    assert crop.shape[:2] == (40, 20) and (crop == 50).all()
    crop2 = masked_crop(img, mask, fill=255, margin=0.5)
    assert (crop2 == 255).any() and (crop2 == 50).any()
    assert masked_crop(img, mask, fill=None, margin=0.5).min() == 50
    assert mask_bbox(np.zeros((5, 5), np.uint8)) is None
