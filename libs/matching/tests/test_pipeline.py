"""The whole chain on a tiny dataset in the SPEC §8 layout, made here from the grocery images."""
import json

import cv2
import numpy as np

from matching.pipeline import (evaluate, evaluate_calibration, load_dataset, prepare_dataset, score_dataset,
                               verify_dataset)
from matching.settings import MatchSettings
from vision_common.settings import VisionSettings
from vision_common.testing import iconic, perspective_copy


def _clip(path, scenes, fps=10, n=20):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 320))
    for scene in scenes:
        big = cv2.resize(scene, (360, 360))
        for i in range(n):
            w.write(big[20 + i // 2:340 + i // 2, 20 + i:340 + i])
    w.release()


def test_dataset_chain_finds_the_shown_product_only(tmp_path, grocery, models_dir):
    root = tmp_path / "ds"
    names = ["Tropicana-Apple-Juice", "Arla-Medium-Fat-Milk", "Oatly-Oat-Milk"]
    products = []
    for n in names:
        p = root / "catalog" / n / "0.jpg"
        p.parent.mkdir(parents=True)
        cv2.imwrite(str(p), iconic(grocery, n))
        products.append({"product_id": n, "src": "local", "title": n, "brand": n.split("-")[0], "url": "",
                         "keywords": ["grocery"], "images": [f"catalog/{n}/0.jpg"]})
    (root / "videos").mkdir()
    produce = cv2.imread(str(grocery / "train/Fruit/Apple/Golden-Delicious/Golden-Delicious_001.jpg"))
    shown = [perspective_copy(iconic(grocery, "Tropicana-Apple-Juice"), relight=r, seed=s)[0] for r, s in ((1.2, 1), (0.8, 2))]
    _clip(root / "videos" / "v1.mp4", [shown[0], produce, shown[1]])
    # the sibling of a catalog product, which is not in the catalog itself
    _clip(root / "videos" / "v2.mp4", [produce, perspective_copy(iconic(grocery, "Arla-Standard-Milk"), seed=3)[0]])
    (root / "videos" / "broken.mp4").write_bytes(b"not a video" * 50)
    videos = [{"video_id": v, "platform": "local", "title": v, "url": "", "keywords": ["grocery"],
               "path": f"videos/{v}.mp4", "published_at": "2026-01-01T00:00:00Z"} for v in ("v1", "v2", "broken")]
    (root / "catalog.json").write_text(json.dumps({"products": products}))
    (root / "videos.json").write_text(json.dumps({"videos": videos}))
    (root / "truth.json").write_text(json.dumps({"matches": [{"product_id": "Tropicana-Apple-Juice", "video_id": "v1"}]}))

    prep = prepare_dataset(root, tmp_path / "work", VisionSettings(models_dir=models_dir), workers=1)
    assert [e["asset"] for e in prep.errors] == ["broken"] and "broken.mp4" in prep.errors[0]["error"]
    assert len(prep.catalog) == 3 and {f.owner_id for f in prep.frames} == {"v1", "v2"}
    assert all((tmp_path / "work" / "kp" / f"{a.asset_id}.npz").is_file() for a in prep.frames + prep.catalog)
    ms = MatchSettings()
    timings: dict = {}
    fevs = verify_dataset(prep, ms, workers=1, timings=timings)
    assert timings["catalog_prepare_s"] > 0  # the once-per-job preparation, timed where it ran
    pairs, matches = score_dataset(fevs, ms)
    accepted = {(m.product_id, m.video_id) for m in matches if m.accepted}
    assert accepted == {("Tropicana-Apple-Juice", "v1")}
    best = next(m for m in matches if m.accepted)
    assert best.score >= ms.match_accept and best.consistency >= 1 and best.ts is not None
    # the best frame is one that shows the product (first or third shot, 2 s each)
    assert best.ts < 2.0 or best.ts >= 4.0
    _, _, truth = load_dataset(root)
    ev = evaluate(matches, truth, fevs, prep.catalog)
    assert ev["precision"] == 1.0 and ev["recall"] == 1.0 and ev["retrieval_recall_at_k"] == 1.0
    # calibration: every scored pair falls in one bin; the accepted true pair in a bin >= 0.80
    bins = evaluate_calibration(fevs, pairs, truth, ms)
    top = next(b for b in bins if b["accepted"])
    lo, hi = map(float, top["bin"].split("-"))
    assert lo >= 0.8 and lo <= best.score <= hi and top["true"] == 1 and top["precision"] == 1 / top["pairs"]
    assert sum(b["accepted"] for b in bins) == 1 and all(b["true"] == 0 for b in bins if b is not top)


def test_also_shown_pairs_count_neither_right_nor_wrong():
    from matching.aggregate import ProductVideoMatch

    def accepted(pid, vid):
        return ProductVideoMatch(pid, vid, 0.9, "img", "frame", 1.0, 0.9, 1, 1, accepted=True)

    truth = [{"product_id": "a", "video_id": "v1"}, {"product_id": "b", "video_id": "v2"}]
    also = [{"product_id": "c", "video_id": "v1"}, {"product_id": "a", "video_id": "v1"}]
    matches = [accepted("a", "v1"), accepted("c", "v1"), accepted("d", "v2")]
    plain = evaluate(matches, truth)
    assert plain["precision"] == round(1 / 3, 4) and plain["recall"] == 0.5
    audited = evaluate(matches, truth, also_shown=also)
    # c on v1 is shown on the shelf: not wrong; d on v2 is; a pair both true and also shown stays true
    assert audited["precision"] == 0.5 and audited["recall"] == 0.5
    assert audited["also_shown_accepted"] == 1 and audited["true_positives"] == 1
    # an also-shown pair that is not reported costs no recall either
    assert evaluate([accepted("a", "v1")], truth, also_shown=also)["recall"] == 0.5
