"""Candidates per region (matching.retrieval.retrieve_with_regions): a product that only one
region of the keyframe is near still reaches verification, scored by the keyframe's own vector."""
import cv2
import numpy as np

from matching.retrieval import first_pass, retrieve_topk, retrieve_with_regions
from vision_common.testing import iconic


def _unit(*rows):
    a = np.float32(rows)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def test_a_region_adds_its_nearest_images_after_the_frames_own_top_k():
    db = _unit([1, 0, 0, 0], [0.9, 0.1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1])
    frame = _unit([1, 0.05, 0.1, 0])[0]
    regions = _unit([0, 0, 0.2, 1], [1, 0, 0, 0])  # one region holds image 3, one repeats image 0
    top = retrieve_with_regions(frame, frame, regions, regions, db, db, k=2, region_k=1)
    assert [i for i, _ in top] == [0, 1, 3]  # the frame's top 2, then the region's find
    # every candidate carries its similarity to the frame's own vector, not to the region
    assert abs(top[2][1] - float(frame @ db[3])) < 1e-6 and top[2][1] < 0.1
    assert retrieve_with_regions(frame, frame, regions, regions, db, db, k=2, region_k=0) == \
        retrieve_topk(frame, frame, db, db, k=2)[0]
    assert retrieve_with_regions(frame, frame, None, None, db, db, k=2, region_k=3) == \
        retrieve_topk(frame, frame, db, db, k=2)[0]
    # a region's finds that the frame's top-k holds already are not repeated
    both = retrieve_with_regions(frame, frame, regions, regions, db, db, k=4, region_k=2)
    assert sorted(i for i, _ in both) == [0, 1, 2, 3]


def test_a_small_blurred_product_on_a_shelf_of_three_is_retrieved_by_its_region(grocery, models_dir):
    """A 2x2 shelf: a catalog product downscaled to 80 px, blurred and JPEG-compressed in one
    cell, two other catalog products and produce in the others, against a catalog padded with
    produce photos. The whole frame is nearest the two sharp products (with K=2 the small one is
    not asked at all); the small product's own quadrant brings its catalog image in."""
    from vision_common.embedding import build_embedder
    from vision_common.settings import VisionSettings

    embedder = build_embedder(VisionSettings(models_dir=models_dir))
    names = ["Oatly-Oat-Milk", "Tropicana-Apple-Juice", "Arla-Medium-Fat-Milk"]
    produce = sorted((grocery / "train" / "Fruit").glob("*/*.jpg"))[::7][:24]
    catalog = [iconic(grocery, n) for n in names] + [cv2.imread(str(p)) for p in produce]
    db_rgb, db_gray = embedder.embed(catalog, [None] * len(catalog))

    def tile(img, side=200):
        return cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)

    small = cv2.resize(iconic(grocery, names[0]), (80, 80), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), 1.2)
    small = cv2.imdecode(cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 30])[1], cv2.IMREAD_COLOR)
    shelf_produce = cv2.imread(str(sorted((grocery / "val" / "Vegetables").glob("*/*.jpg"))[0]))
    cells = [tile(small), tile(iconic(grocery, names[1])), tile(iconic(grocery, names[2])), tile(shelf_produce)]
    shelf = np.vstack([np.hstack(cells[:2]), np.hstack(cells[2:])])

    own_rgb, own_gray = embedder.embed([shelf], [None])
    fp = first_pass(embedder, [shelf], db_rgb, db_gray)
    assert fp.region_rgb.shape == (1, 4, embedder.dim)
    k = 2
    by_frame = [i for i, _ in retrieve_topk(own_rgb[0], own_gray[0], db_rgb, db_gray, k)[0]]
    assert 0 not in by_frame  # the whole shelf is not near the small, blurred product
    got = retrieve_with_regions(own_rgb[0], own_gray[0], fp.region_rgb[0], fp.region_gray[0],
                                db_rgb, db_gray, k, region_k=3)
    assert [i for i, _ in got][:k] == by_frame and 0 in [i for i, _ in got]
