import cv2
import numpy as np
import pytest

from vision_common.errors import VideoError
from vision_common.keyframes import extract_keyframes
from vision_common.testing import textured

FPS = 10


def _write_video(path, shots, blur_first=2):
    """shots: list of (image, n_frames). Each shot pans slowly; its first frames are blurred."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (320, 240))
    assert w.isOpened()
    for img, n in shots:
        base = cv2.resize(img, (360, 280))
        for i in range(n):
            f = base[20 + i % 10:260 + i % 10, 20 + i:340 + i].copy()
            if i < blur_first:
                f = cv2.blur(f, (15, 1))
            w.write(f)
    w.release()


def test_one_sharp_keyframe_per_shot_with_accurate_timestamps(tmp_path):
    imgs = [textured(s) for s in (1, 2, 3, 4)]
    lengths = [22, 18, 25, 15]
    _write_video(tmp_path / "v.mp4", list(zip(imgs, lengths)))
    kfs = extract_keyframes(tmp_path / "v.mp4", min_frames=3, max_frames=8)
    bounds = np.cumsum([0] + lengths) / FPS
    shots_hit = set()
    for k in kfs:
        shot = int(np.searchsorted(bounds, k.ts, side="right") - 1)
        shots_hit.add(shot)
        # the picture at ts is the shot's picture: the keyframe is closest to that shot's image
        small = cv2.resize(k.image, (64, 48)).astype(np.float32)
        d = [np.abs(small - cv2.resize(cv2.resize(im, (360, 280))[20:260, 20:340], (64, 48))).mean() for im in imgs]
        assert int(np.argmin(d)) == shot, (k.ts, d)
        # never one of the blurred shot-start frames
        assert round((k.ts - bounds[shot]) * FPS) >= 2
    assert shots_hit == {0, 1, 2, 3}
    assert 4 <= len(kfs) <= 8 and [k.ts for k in kfs] == sorted(k.ts for k in kfs)


def test_min_frames_from_a_single_long_shot(tmp_path):
    _write_video(tmp_path / "one.mp4", [(textured(7), 60)])
    kfs = extract_keyframes(tmp_path / "one.mp4", min_frames=2, max_frames=8)
    assert len(kfs) >= 2
    assert abs(kfs[1].ts - kfs[0].ts) >= 0.6


def test_max_frames_is_respected(tmp_path):
    _write_video(tmp_path / "many.mp4", [(textured(s), 8) for s in range(12)], blur_first=0)
    assert len(extract_keyframes(tmp_path / "many.mp4", min_frames=3, max_frames=5)) == 5


@pytest.mark.parametrize("content,needle", [(None, "not found"), (b"", "empty"), (b"\x00\x01garbage" * 100, "cannot open|no frame")])
def test_bad_videos_raise_video_error(tmp_path, content, needle):
    p = tmp_path / "bad.mp4"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(VideoError, match=needle):
        extract_keyframes(p)
