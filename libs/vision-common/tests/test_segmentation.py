import cv2
import numpy as np
import pytest

from vision_common.errors import ModelError
from vision_common.segmentation import build_segmenter, finalize
from vision_common.settings import VisionSettings
from vision_common.testing import iconic, person_scene, white_background_mask


@pytest.fixture(scope="module")
def segmenter(models_dir):
    return build_segmenter(VisionSettings(models_dir=models_dir))


def _iou(a, b):
    a, b = a > 0, b > 0
    return (a & b).sum() / max(1, (a | b).sum())


def test_catalog_product_is_cut_out(grocery, segmenter):
    for name in ("Arla-Medium-Fat-Milk", "Tropicana-Apple-Juice", "Oatly-Natural-Oatghurt"):
        img = iconic(grocery, name)
        r = segmenter.segment(img)
        assert not r.fallback, r.reason
        assert _iou(r.mask, white_background_mask(img)) > 0.8, name


def test_in_store_photo_mask_keeps_the_held_product(grocery, segmenter):
    # the held product fills the middle of these photos: the mask must cover the centre and
    # leave out most of the frame border (shelves)
    rels = [l.split(",")[0] for l in (grocery / "train.txt").read_text().splitlines() if "/Packages/" in l][:40:8]
    for rel in rels:
        img = cv2.imread(str(grocery / rel))
        r = segmenter.segment(img)
        h, w = r.mask.shape
        assert r.mask[h // 3:2 * h // 3, w // 3:2 * w // 3].mean() > 0.5 * 255, rel
        assert r.mask.mean() < 0.75 * 255, rel


def test_person_pasted_beside_the_product_is_dropped(grocery, models_dir, segmenter):
    scene, prod_gt, core = person_scene(grocery, models_dir)
    r = segmenter.segment(scene)
    assert not r.fallback
    assert r.person_fraction > 0.05
    assert (r.mask[prod_gt > 0] > 0).mean() > 0.8  # the product stays
    assert (r.mask[core] > 0).mean() < 0.2  # the person goes (a little backdrop remains)


def test_without_the_person_mask_the_person_would_stay(grocery, models_dir):
    # the control for the test above: saliency alone keeps the person
    scene, _, core = person_scene(grocery, models_dir)
    r = build_segmenter(VisionSettings(models_dir=models_dir, seg_person_mask=False)).segment(scene)
    assert (r.mask[core] > 0).mean() > 0.5


def test_single_colour_image_falls_back_to_whole_image(segmenter):
    r = segmenter.segment(np.full((240, 320, 3), 77, np.uint8))
    assert r.mask.shape == (240, 320)
    if r.fallback:
        assert r.mask.min() == 255 and r.reason
    else:  # a mask of a flat image must at least not be empty
        assert r.mask.mean() > 0.02 * 255


def test_fallback_rule_for_a_near_empty_mask():
    img = np.zeros((100, 100, 3), np.uint8)
    m = np.zeros((100, 100), np.uint8)
    m[:5, :5] = 255
    r = finalize(img, m, 0.02)
    assert r.fallback and r.mask.min() == 255 and "0.2%" in r.reason or "0.3%" in r.reason
    ok = finalize(img, np.pad(np.full((50, 50), 255, np.uint8), 25), 0.02)
    assert not ok.fallback and ok.mask.mean() < 255


def test_batch_equals_single(grocery, segmenter):
    imgs = [iconic(grocery, "Bravo-Apple-Juice"), iconic(grocery, "Alpro-Fresh-Soy-Milk")]
    batch = segmenter.segment_batch(imgs)
    for im, b in zip(imgs, batch):
        assert _iou(segmenter.segment(im).mask, b.mask) > 0.99


def test_missing_model_files_give_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="fetch_models"):
        build_segmenter(VisionSettings(models_dir=tmp_path))


def test_segmenter_none_is_whole_image(tmp_path):
    s = build_segmenter(VisionSettings(segmenter="none", models_dir=tmp_path))
    r = s.segment(np.zeros((10, 20, 3), np.uint8))
    assert r.fallback and r.mask.shape == (10, 20) and r.mask.min() == 255
