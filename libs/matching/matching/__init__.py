"""Matching core: retrieve -> verify (rerank) -> score -> aggregate, plus evidence rendering.

The matcher service and scripts/bench_quality.py call the same functions with the same
``MatchSettings``; see docs/quality.md for the numbers behind the defaults.
"""
from .aggregate import ProductVideoMatch, aggregate
from .assets import Asset, AssetBundle, extract_asset_features, load_asset_bundle, save_asset_features
from .distinct import mark_shared_keypoints, prepare_catalog
from .evidence import build_evidence, render_evidence, write_evidence
from .frame import match_frame
from .retrieval import retrieve_topk
from .scoring import PairScore, compete
from .settings import MatchSettings
from .verify import PairEvidence, verify_pair

__all__ = ["Asset", "AssetBundle", "MatchSettings", "PairEvidence", "PairScore", "ProductVideoMatch",
           "aggregate", "build_evidence", "compete", "extract_asset_features", "load_asset_bundle", "mark_shared_keypoints", "match_frame",
           "prepare_catalog",
           "render_evidence", "retrieve_topk", "save_asset_features", "verify_pair", "write_evidence"]
