"""Appearance evidence: the answer for products that geometry cannot verify.

A sneaker, a boot or a bowl seen from another side is not a homography of its catalog photo: it
gives few or no inliers, and their absence says nothing against it. What such a keyframe does
show is the product's look: its region's embedding (the retrieval similarity, which the matcher
already has for free) and its colours. Per keyframe:

  stage 1  z = app_bias + app_w_deep * sim_deep + app_w_hist * sim_hist per candidate product
           (best of its catalog images), sim_hist = 1 - Bhattacharyya distance of the Lab
           colour histograms of the two masked regions (viewpoint-free, unlike a warp);
  compete  the candidates compete for the keyframe's region: only the best product keeps a score;
  stage 2  score_pair = sigmoid(app_cal_bias + app_cal_logit * z - app_cal_lead * lack): how
           often such a winner is right; lack = max(0, app_lead_full - lead), lead = z minus the
           best other product's z.

A wide lead over the runner-up is *not* evidence here, unlike in geometric scoring: it is a lead
over the catalog only, and a look-alike that is missing from the catalog (a sneaker's other
edition) wins the keyframe for its catalog twin by a wide margin. A narrow lead is evidence,
against: in a catalog of hundreds of listings several products look like any keyframe (a
satsuma listing and a shot of oranges), and the look cannot say which one is shown. So the lead
only ever lowers the score (fitted on the grocery train clips against their own catalog and a
300-product one: matching.calibrate.fit_appearance_lead).

Appearance speaks only where geometry is silent: a keyframe whose region geometry gave to another
product (a verified pair scoring at least SEGMENT_PAIR_MIN), or in which geometry verified the
winner itself (a homography was found, so print, colour and detail were compared after warping:
their verdict stands, high or low), gives no appearance score. A printed twin missing from the
catalog is verified by geometry and refused on its colour band; its look alone would pass it.
Weights are fitted on the grocery train split (matching.calibrate.fit_appearance); a held-out
twin that looks like its catalog sibling scores low there, so the score says less, not more.

Per video, a look is one chance among many (``discount_look_chances``, run by
matching.aggregate): stage 2 says how often one keyframe's winner is right, fitted on clips in
which the look puts a product on screen (a winner at SEGMENT_PAIR_MIN or more) once or twice.
Four minutes of produce footage against a catalog of produce listings put a dozen listings on
screen twenty times, and a look-alike missing from the catalog (a Granny Smith listing for Golden
Delicious) wins a few of those draws at a high score. So a product's look-only pairs in a video
lose log(chances / (APP_CHANCES_REF x wins)) logits when that is positive: chances = the video's
keyframes whose look winner scored SEGMENT_PAIR_MIN or more, wins = those the product won at
MATCH_PAIR_MIN or more. With the default reference of 1 that is the product's share of the
video's on-screen looks: a product the look keeps finding (a shoe in its review, however long)
loses nothing, nor does one that is the only thing the look finds in four minutes of other
footage.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .assets import Asset, AssetBundle
from .scoring import PairScore, sigmoid
from .settings import MatchSettings
from .verify import PairEvidence

# Lab bins: lightness coarse (it follows the light), chroma a/b finer (it follows the product)
HIST_BINS = (4, 12, 12)
HIST_RANGES = (0, 256, 64, 192, 64, 192)


def region_histogram(bundle: AssetBundle) -> np.ndarray:
    """Normalised Lab histogram of the bundle's masked thumbnail (the whole one without a mask)."""
    lab = cv2.cvtColor(bundle.thumb, cv2.COLOR_BGR2LAB)
    mask = bundle.thumb_mask if bundle.thumb_mask is not None and bundle.thumb_mask.any() else None
    h = cv2.calcHist([lab], [0, 1, 2], mask, list(HIST_BINS), list(HIST_RANGES))
    return (h / max(float(h.sum()), 1.0)).astype(np.float32)


def histogram_similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(1.0 - cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA))


@dataclass
class AppearanceEvidence:
    product_id: str
    img_id: str  # the product's catalog image that looks most like the region
    frame_id: str
    sim_deep: float
    sim_hist: float

    def features(self) -> list[float]:
        """Stage-1 inputs; feature ``x`` has the weight setting ``app_w_x``."""
        return [self.sim_deep, self.sim_hist]

    def logit(self, s: MatchSettings) -> float:
        return s.app_bias + sum(w * x for w, x in zip((s.app_w_deep, s.app_w_hist), self.features()))


def appearance_evidence(frame_bundle: AssetBundle, frame_id: str, candidates: list[Asset], sims: list[float],
                        s: MatchSettings) -> list[AppearanceEvidence]:
    """One AppearanceEvidence per candidate product (its best catalog image by stage-1 logit)."""
    if not s.appearance:
        return []
    hf = region_histogram(frame_bundle)
    best: dict[str, AppearanceEvidence] = {}
    for c, sim in zip(candidates, sims):
        try:
            hc = catalog_histogram(c)
        except Exception:  # unreadable features: frame_evidence has logged it already
            continue
        pid = c.owner_id or c.asset_id
        ev = AppearanceEvidence(pid, c.asset_id, frame_id, float(sim), histogram_similarity(hf, hc))
        if pid not in best or ev.logit(s) > best[pid].logit(s):
            best[pid] = ev
    return list(best.values())


def catalog_histogram(c: Asset) -> np.ndarray:
    """The catalog image's region histogram, kept on its bundle (computed once per job)."""
    b = c.bundle()
    if b.color_hist is None:
        b.color_hist = region_histogram(b)
    return b.color_hist


def calibrated_logit(z: float, lead: float | None, s: MatchSettings) -> float:
    """Stage 2 before the sigmoid: the winner's look, less what its lead lacks (none alone)."""
    lack = 0.0 if lead is None else max(0.0, s.app_lead_full - lead)
    return s.app_cal_bias + s.app_cal_logit * z - s.app_cal_lead * lack


def appearance_scores(evidence: list[AppearanceEvidence], geometric: list[PairScore],
                      region_box: tuple[float, float, float, float] | None, s: MatchSettings,
                      verdict_stands: bool = True) -> list[PairScore]:
    """The keyframe's appearance winner as a PairScore (none when geometry gave the region to
    another product or judged the winner itself, or no candidate). ``region_box`` is the
    keyframe's product mask box (original px): the outline the evidence image draws, since the
    PairEvidence (``kind="appearance"``) has no inliers. ``verdict_stands=False`` (fitting only)
    keeps a winner geometry judged."""
    if not evidence or not s.appearance:
        return []
    ranked = sorted(evidence, key=lambda e: -e.logit(s))
    win = ranked[0]
    held = {p.product_id for p in geometric if p.score_pair >= s.segment_pair_min}
    judged = {p.product_id for p in geometric if p.evidence.verified}
    if (held and win.product_id not in held) or (verdict_stands and win.product_id in judged):
        return []
    z = win.logit(s)
    margin = z - ranked[1].logit(s) if len(ranked) > 1 else None
    score = sigmoid(calibrated_logit(z, margin, s))
    quad = None
    if region_box is not None:
        x0, y0, x1, y1 = region_box
        quad = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    ev = PairEvidence(win.img_id, win.frame_id, sim_deep=win.sim_deep, sim_color=win.sim_hist, quad=quad,
                      kind="appearance")
    return [PairScore(win.img_id, win.frame_id, win.product_id, score, z, margin, None, ev)]


def discount_look_chances(pairs: list[PairScore], video_of: dict[str, str], s: MatchSettings) -> list[PairScore]:
    """``pairs`` with each appearance pair's score lowered for the look chances of its video (see
    the module doc); ``video_of`` maps frame_id -> video_id. Geometric pairs are returned as they
    are, and so is everything when ``s.app_chances_ref`` is 0."""
    if s.app_chances_ref <= 0:
        return pairs
    looks = [p for p in pairs if p.evidence.kind == "appearance" and p.score_pair >= s.segment_pair_min]
    chances = Counter(video_of[p.frame_id] for p in looks)  # one look per keyframe
    wins = Counter((p.product_id, video_of[p.frame_id]) for p in looks if p.score_pair >= s.match_pair_min)
    out = []
    for p in pairs:
        if p.evidence.kind == "appearance" and 0.0 < p.score_pair < 1.0:
            video = video_of[p.frame_id]
            lack = math.log(max(1, chances[video]) / (s.app_chances_ref * max(1, wins[(p.product_id, video)])))
            if lack > 0:
                p = replace(p, score_pair=sigmoid(math.log(p.score_pair / (1.0 - p.score_pair)) - lack))
        out.append(p)
    return out
