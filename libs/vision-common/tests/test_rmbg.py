"""The RMBG loading path (transformers, remote code, local folder only) on a tiny model made here."""
import sys

import numpy as np
import pytest

from vision_common.errors import ModelError
from vision_common.segmentation import build_segmenter
from vision_common.settings import VisionSettings
from vision_common.testing import person_scene

CONFIG = '''
from transformers import PretrainedConfig


class TinySegConfig(PretrainedConfig):
    model_type = "tinyseg"
'''

MODEL = '''
import torch
from transformers import PreTrainedModel

from .configuration_tinyseg import TinySegConfig


class TinySegModel(PreTrainedModel):
    config_class = TinySegConfig

    def __init__(self, config):
        super().__init__(config)
        self.conv = torch.nn.Conv2d(3, 1, 1)
        self.post_init()

    def forward(self, x):
        # nested lists like BRIA RMBG-1.4: [[fused map, side outputs...], [features...]]
        m = torch.sigmoid(self.conv(x))
        return [[m, m], [x]]
'''


def _tiny_rmbg(tmp_path):
    transformers = pytest.importorskip("transformers")
    import torch

    src = tmp_path / "src" / "tinyseg"
    src.mkdir(parents=True)
    (src / "__init__.py").write_text("")
    (src / "configuration_tinyseg.py").write_text(CONFIG)
    (src / "modeling_tinyseg.py").write_text(MODEL)
    sys.path.insert(0, str(src.parent))
    try:
        from tinyseg.configuration_tinyseg import TinySegConfig
        from tinyseg.modeling_tinyseg import TinySegModel
    finally:
        sys.path.remove(str(src.parent))
    TinySegConfig.register_for_auto_class()
    TinySegModel.register_for_auto_class("AutoModelForImageSegmentation")
    model = TinySegModel(TinySegConfig())
    with torch.no_grad():  # 'bright is foreground': the mean of the channels, sharpened
        model.conv.weight[:] = 20.0 / 3
        model.conv.bias[:] = 0.0
    out = tmp_path / "tiny-rmbg"
    model.save_pretrained(out)
    (out / "preprocessor_config.json").write_text('{"size": {"height": 64, "width": 64}, '
                                                  '"image_mean": [0.5, 0.5, 0.5], "image_std": [1, 1, 1]}')
    return out


def test_rmbg_from_a_local_folder_segments(tmp_path):
    path = _tiny_rmbg(tmp_path)
    seg = build_segmenter(VisionSettings(segmenter="rmbg", rmbg_model_path=path, seg_person_mask=False))
    img = np.full((120, 160, 3), 20, np.uint8)
    img[30:90, 50:110] = 230
    r = seg.segment(img)
    assert not r.fallback and r.mask.shape == (120, 160)
    assert r.mask[35:85, 55:105].mean() > 250 and r.mask[:20].max() == 0


def test_rmbg_without_a_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="RMBG_MODEL_PATH"):
        build_segmenter(VisionSettings(segmenter="rmbg", rmbg_model_path=tmp_path / "missing", seg_person_mask=False))


def test_rmbg_drops_a_pasted_person_like_u2netp(tmp_path, grocery, models_dir):
    # both segmenters share the post-processing (vision_common.segmentation.product_mask): threshold,
    # person cut where a face is found, clean-up, and the person share reported
    seg = build_segmenter(VisionSettings(segmenter="rmbg", rmbg_model_path=_tiny_rmbg(tmp_path), models_dir=models_dir))
    scene, _, core = person_scene(grocery, models_dir)
    r = seg.segment(scene)
    assert r.person_fraction > 0.05
    assert (r.mask[core] > 0).mean() < 0.2
