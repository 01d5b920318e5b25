"""Every weight and threshold of the matching core, read from the environment.

The SPEC §6 names keep their meaning (RETRIEVAL_TOPK, SIM_DEEP_MIN, INLIERS_MIN, MATCH_BEST_MIN,
MATCH_CONS_MIN, MATCH_ACCEPT); the defaults below are the values tuned on the grocery train split
(docs/quality.md says how, and what each one buys). The matcher service, the evidence-builder
and scripts/bench_quality.py all build ``MatchSettings()``, so they run with the same numbers.
"""
from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class MatchSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    # --- retrieval (SPEC §6.1) ----------------------------------------------------------------
    retrieval_topk: int = 20
    # Candidates below this cosine (max of rgb/gray) are not verified at all. The SPEC's 0.82 is
    # far too strict for an ImageNet embedder on masked crops (a true pair often scores 0.5-0.7),
    # so it only drops hopeless candidates here; the verifier decides.
    sim_deep_min: float = 0.0

    # --- geometric verification (SPEC §6.2) ----------------------------------------------------
    kp_match_method: str = "sift"  # which stored features the verifier matches (sift | akaze)
    ratio_test: float = 0.85  # 0.85 > 0.8: +3 pts of true pairs with >= 12 inliers (train)
    ransac_method: str = "magsac"  # magsac | usac | ransac (OpenCV)
    ransac_thresh_px: float = 4.0  # reprojection threshold in keyframe pixels
    min_good_matches: int = 8
    # ratio test used to mark catalog keypoints shared between products (matching.distinct)
    distinct_ratio: float = 0.8
    # Minimum absolute inliers for a pair to count as geometrically verified.
    inliers_min_count: int = 12
    # SPEC's inliers_ratio = inliers / min(kpA, kpB): a verified pair must also reach this. The
    # SPEC's 0.35 would reject nearly every true pair here (train true pairs: 0.05-0.30, median
    # 0.15, because keyframes carry far more keypoints than the product), so it is off by default.
    inliers_min: float = 0.0

    # --- appearance after warping (the sibling-variant discriminators) --------------------------
    # Colour: share of the catalog product's coloured pixels (Lab chroma > color_min_chroma)
    # whose hue the warped keyframe reproduces within color_hue_tol_deg.
    color_min_chroma: float = 15.0
    color_hue_tol_deg: float = 40.0
    # Dense detail: local normalised cross-correlation of gray+CLAHE patches, cell size in catalog
    # pixels; a textured cell agrees when NCC is above ncc_min.
    dense_cell_px: int = 12
    ncc_min: float = 0.6  # train: dense-term AUC 0.870 at 0.35, 0.896 at 0.6, 0.897 at 0.7

    # --- pair score -----------------------------------------------------------------------------
    # Stage 1, evidence of one pair: z = w_bias + w_deep*sim_deep + w_kp*sim_kp + w_color*sim_color
    #   + w_dense*sim_dense + w_edge*sim_edge + w_spread*spread + w_distinct*distinct (share of
    #   inliers on keypoints no other product's image has), with sim_kp = min(1, inliers /
    #   kp_inliers_sat) (the SPEC's keypoint term on an absolute scale). A logistic model fitted on
    #   the train split (matching.calibrate); it ranks the candidates of a keyframe.
    kp_inliers_sat: float = 60.0
    w_bias: float = -7.479
    w_deep: float = 0.483
    w_kp: float = -0.654
    w_color: float = 4.549
    w_dense: float = 5.063
    w_edge: float = -0.21
    w_spread: float = 0.285
    w_distinct: float = 3.489
    # Competition inside a keyframe: candidates whose projected outlines overlap (IoU) more than
    # compete_iou claim the same region; the best keeps it, the others are suppressed (score 0).
    compete_iou: float = 0.3
    # Duels between overlapping candidates (matching.verify.duel): pixels where the two catalog
    # renders differ by more than duel_diff (Lab, lightness at half weight) decide which one the
    # keyframe shows. z' = z + w_duel * min over rivals of (share won - 0.5).
    duel_diff: float = 25.0
    w_duel: float = 4.0
    # Stage 2, calibrated score of a region's winner: score_pair = sigmoid(cal_bias + cal_logit*z
    #   + cal_margin*min(margin, margin_cap) + cal_alone*[no rival]); margin = z - z of the best
    #   suppressed rival: a winner that clearly beats its siblings is surer (cal_margin > 0).
    margin_cap: float = 4.0
    cal_bias: float = -0.312
    cal_logit: float = 1.02
    cal_margin: float = 0.534
    cal_alone: float = 0.333

    # --- aggregation per (product, video) (SPEC §6.4) ----------------------------------------
    match_pair_min: float = 0.80  # a pair at or above this counts for consistency / coverage
    # Tuned on train (4-fold CV by video, docs/quality.md): with a calibrated pair score the
    # SPEC's 0.88/0.92 reach precision 1.0 at recall 0.67; 0.80/2/0.90: P 1.0, R 0.70.
    match_best_min: float = 0.80
    match_cons_min: int = 2
    match_strong_min: float = 0.90  # accepted on its best pair alone
    match_cons_bonus_at: int = 3
    match_cov_bonus_at: int = 2
    match_bonus: float = 0.02
    match_accept: float = 0.80
