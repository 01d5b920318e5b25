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


def test_kept_keyframes_get_their_windows_cut_out_and_embedded(grocery, models_dir):
    """RETRIEVAL_REGION_CROPS: a keyframe the first pass keeps gets, after its pooled region
    vectors, those of its windows cut out and embedded on their own; one it drops gets nothing
    more (it is never stored). On 2x2 shelves of a store photo of a package beside three crates of
    vegetables (the grid set's shelves), the package's catalog image ranks nearer the top in its
    cut-out quadrant than in the pooled one, whose window still sees the vegetables."""
    from vision_common.embedding import crop_windows
    from vision_common.embedding import build_embedder
    from vision_common.settings import VisionSettings

    embedder = build_embedder(VisionSettings(models_dir=models_dir))
    classes = sorted((grocery / "train" / "Packages").glob("*/*"))[:14]
    produce = (sorted((grocery / "train" / "Fruit").glob("*/*.jpg"))[::7][:24]
               + sorted((grocery / "train" / "Vegetables").glob("*/*.jpg"))[::9][:24])
    catalog = [iconic(grocery, d.name) for d in classes] + [cv2.imread(str(p)) for p in produce]
    db_rgb, db_gray = embedder.embed(catalog, [None] * len(catalog))

    def cell(path):
        return cv2.resize(cv2.imread(str(path)), (200, 200), interpolation=cv2.INTER_AREA)

    veg = [cell(p) for p in sorted((grocery / "val" / "Vegetables").glob("*/*.jpg"))[:3]]
    shelves = [np.vstack([np.hstack([cell(sorted(d.glob("*.jpg"))[0]), veg[0]]), np.hstack(veg[1:3])])
               for d in classes]

    pooled = first_pass(embedder, shelves, db_rgb, db_gray)
    keep_from = float(np.sort(pooled.sims)[len(shelves) // 2])
    cut = first_pass(embedder, shelves, db_rgb, db_gray, crop_from=keep_from)
    kept = pooled.sims >= keep_from
    assert np.array_equal(cut.sims, pooled.sims) and 0 < kept.sum() < len(shelves)
    assert cut.region_rgb.shape[1] == 8  # four pooled windows, then the same four cut out
    assert np.allclose(cut.region_rgb[:, :4], pooled.region_rgb) and np.allclose(cut.region_gray[:, :4],
                                                                                pooled.region_gray)
    assert not cut.region_rgb[~kept, 4:].any()  # dropped: nothing cut out
    i = int(np.flatnonzero(kept)[0])
    c_rgb, c_gray = embedder.embed(crop_windows(shelves[i]), [None] * 4)
    assert np.allclose(cut.region_rgb[i, 4:], c_rgb, atol=1e-5)
    assert np.allclose(cut.region_gray[i, 4:], c_gray, atol=1e-5)
    assert not np.allclose(cut.region_rgb[i, 4:], pooled.region_rgb[i], atol=1e-2)

    def ranks(fp, window):  # where each shelf's own catalog image ranks in one of its regions
        sim = np.maximum(fp.region_rgb[:, window] @ db_rgb.T, fp.region_gray[:, window] @ db_gray.T)
        return np.array([(sim[k] > sim[k, k]).sum() for k in range(len(classes))])

    every = first_pass(embedder, shelves, db_rgb, db_gray, crop_from=-1.0)
    top_left_pooled, top_left_cut = ranks(every, 0), ranks(every, 4)
    assert np.array_equal(top_left_pooled, ranks(pooled, 0))
    assert top_left_cut.mean() < 0.75 * top_left_pooled.mean()
    assert np.median(top_left_cut) < np.median(top_left_pooled)


def test_crop_windows_follow_the_region_windows():
    from vision_common.embedding import crop_windows

    img = np.arange(70 * 140 * 3, dtype=np.uint32).reshape(70, 140, 3).astype(np.uint8)
    tl, tr, bl, br = crop_windows(img)
    assert tl.shape[:2] == (40, 80) and br.shape[:2] == (40, 80)  # 4/7 of each side
    assert np.array_equal(tl, img[:40, :80]) and np.array_equal(br, img[30:, 60:])
    assert np.array_equal(tr, img[:40, 60:]) and np.array_equal(bl, img[30:, :80])


class _NoMapEmbedder:
    """An embedder without a spatial map (CLIP's pooled output): the whole image only. Its vector
    is the image's mean colour, so a cut-out window's vector says which window it was."""

    dim = 3

    def _vec(self, im):
        v = im.reshape(-1, 3).mean(axis=0).astype(np.float32) + 1e-3
        return v / np.linalg.norm(v)

    def embed_regions(self, images):
        v = np.stack([self._vec(im) for im in images])[:, None, :]
        return v, v.copy()

    def embed(self, images, masks):
        v = np.stack([self._vec(im) for im in images])
        return v, v.copy()


def test_a_model_without_a_spatial_map_gets_regions_only_where_they_are_cut_out():
    red, blue = np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 3), np.uint8)
    red[...] = (0, 255, 0)
    red[:20, :20] = (0, 0, 255)  # a green frame with a red top-left corner
    blue[...] = (255, 0, 0)
    db = np.float32([[0, 0, 1], [1, 0, 0]])
    emb = _NoMapEmbedder()
    assert first_pass(emb, [red, blue], db, db).region_rgb.shape == (2, 0, 3)  # no windows pooled
    fp = first_pass(emb, [red, blue], db, db, crop_from=0.99)  # keeps the all-blue frame only
    assert fp.sims[1] > 0.99 > fp.sims[0]
    assert fp.region_rgb.shape == (2, 4, 3) and not fp.region_rgb[0].any()  # dropped: nothing
    assert np.allclose(fp.region_rgb[1], emb._vec(blue))
    cut = first_pass(emb, [red], db, db, crop_from=-1.0).region_rgb[0]
    assert cut[0] @ db[0] > cut[3] @ db[0]  # the top-left window holds the red corner
