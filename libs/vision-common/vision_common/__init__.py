"""Shared computer-vision building blocks for the product <-> video matcher.

Modules are imported lazily by the caller (``from vision_common import keypoints``) so that a
service that only needs image IO does not pay for torch or onnxruntime at import time.
"""

__all__ = ["errors", "image_io", "normalize", "keyframes", "segmentation", "embedding",
           "keypoints", "ransac", "settings", "testing"]
