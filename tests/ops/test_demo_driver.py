"""scripts/demo.py's progress line: every stage the orchestrator's /status can list prints."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load_demo():
    spec = importlib.util.spec_from_file_location("demo_driver", REPO / "scripts" / "demo.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_progress_line_names_asset_stages_and_job_stages_alike():
    demo = load_demo()
    counts = {"products": 7, "product_images": 14, "videos": 8, "keyframes": 31, "matches": 2, "evidence": 1,
              "stages": {"image.embeddings": {"expected": 14, "done": 13, "failed": 1},
                         "matchings": {"expected": None, "done": 0, "failed": 0},  # a job stage: no dot
                         "evidences": {"expected": 2, "done": 1, "failed": 0}}}
    line = demo.fmt_counts(counts)
    assert "ima-emb=14/14" in line and "mat=0/?" in line and "evi" not in line.split("matches")[0]
    assert line.startswith("products=7 images=14 videos=8 keyframes=31") and line.endswith("matches=2 evidence=1")
