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


# --- long videos -------------------------------------------------------------------------------
from vision_common.keyframes import KeyframeSettings, budget  # noqa: E402


def _stamp(frame: np.ndarray, n: int) -> None:
    """Write the frame number as 12 black/white squares along the top (read back by _read_stamp)."""
    for bit in range(12):
        x = 8 + bit * 20
        frame[4:20, x:x + 16] = 255 if (n >> bit) & 1 else 0


def _read_stamp(frame: np.ndarray) -> int:
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return sum(1 << bit for bit in range(12) if gray[8:16, 12 + bit * 20:20 + bit * 20].mean() > 127)


def _write_h264(path, shots, fps=30, size=(320, 240), stamp=True):
    """H.264 with B-frames (frames decode out of order: pts must give the time), one picture per
    shot panning slowly, every frame stamped with its number."""
    import av

    w, h = size
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.options = {"preset": "veryfast", "crf": "20", "g": str(2 * fps), "bf": "2"}
    n = 0
    for img, frames in shots:
        base = cv2.resize(img, (w + 60, h + 40))
        for i in range(frames):
            x, y = int(50 * i / max(1, frames - 1)), int(30 * i / max(1, frames - 1))
            f = np.ascontiguousarray(base[y:y + h, x:x + w])
            if stamp:
                _stamp(f, n)
            for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
                container.mux(packet)
            n += 1
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def _long_video(tmp_path, lengths_s, fps=30):
    imgs = [textured(100 + i) for i in range(len(lengths_s))]
    frames = [int(round(s * fps)) for s in lengths_s]
    path = tmp_path / "long.mp4"
    _write_h264(path, list(zip(imgs, frames)), fps)
    return path, imgs, np.cumsum([0] + frames) / fps


def _shot_of(ts, bounds):
    return int(np.searchsorted(bounds, ts, side="right") - 1)


def test_a_long_video_has_every_shot_with_exact_timestamps_and_spans(tmp_path):
    lengths = [2.5, 4.0, 1.2, 6.0, 3.0, 2.0, 5.5, 1.5, 3.5, 4.5, 2.2, 3.8, 6.5, 2.7, 4.1, 3.3, 1.8, 5.0,
               2.9, 3.6, 4.4, 2.4]  # 76.4 s, 22 shots
    fps = 30
    path, imgs, bounds = _long_video(tmp_path, lengths, fps)
    ks = KeyframeSettings(per_minute=30)
    kfs = extract_keyframes(path, 3, 8, ks)
    assert len(kfs) <= budget(bounds[-1], ks) == 39
    hit = set()
    for k in kfs:
        shot = _shot_of(k.ts, bounds)
        hit.add(shot)
        image = k.image
        # the time is the frame's own: the stamp on the picture says which frame it is
        assert _read_stamp(image) == round(k.ts * fps), k.ts
        # the span is the shot (cut detection samples every 0.2 s: its bounds are that exact)
        assert abs(k.shot_start - bounds[shot]) <= 0.2 + 1e-6 and abs(k.shot_end - bounds[shot + 1]) <= 0.2 + 1e-6
        assert k.shot_start <= k.ts < k.shot_end
    assert hit == set(range(len(lengths))), sorted(set(range(len(lengths))) - hit)
    # within the budget, long spans also got a second look, never closer than min_gap_s to the first
    per_shot = {s: sorted(k.ts for k in kfs if _shot_of(k.ts, bounds) == s) for s in hit}
    assert len(kfs) > len(lengths)
    assert all(len(t) == 1 or (len(t) == 2 and t[1] - t[0] >= ks.min_gap_s and lengths[s] >= ks.long_shot_s)
               for s, t in per_shot.items()), per_shot
    assert [k.ts for k in kfs] == sorted(k.ts for k in kfs)


def test_the_ceiling_keeps_one_keyframe_for_each_of_the_longest_shots(tmp_path):
    lengths = [2.0 + (i % 5) * 0.7 for i in range(24)]  # 24 shots in 81.6 s
    path, _, bounds = _long_video(tmp_path, lengths, fps=25)
    ks = KeyframeSettings(per_minute=12, max_frames=8)
    cap = budget(bounds[-1], ks)
    assert cap == 17
    kfs = extract_keyframes(path, 3, 8, ks)
    assert len(kfs) == cap
    shots = [_shot_of(k.ts, bounds) for k in kfs]
    assert len(set(shots)) == cap  # one each: a primary for a shot beats a second frame for another
    dropped = set(range(len(lengths))) - set(shots)
    assert max(lengths[s] for s in dropped) <= min(lengths[s] for s in shots)


def test_max_total_caps_a_very_long_video_and_short_clips_keep_the_spec_budget():
    ks = KeyframeSettings(per_minute=30, max_frames=8, max_total=100)
    assert budget(10, ks) == 8 and budget(16, ks) == 8  # a short clip: the SPEC's 3-8
    assert budget(60, ks) == 30 and budget(240, ks) == 100 and budget(20 * 60, ks) == 100


def test_a_shot_that_keeps_changing_gets_a_keyframe_every_few_seconds(tmp_path):
    """One 24 s shot panning across a wide picture made of different prints: each part of the
    pan is its own span with its own keyframe, and the spans tile the shot."""
    import av

    panorama = np.hstack([textured(200 + i, (240, 300)) for i in range(8)])  # 2400 px wide
    fps, w, h = 25, 320, 240
    path = tmp_path / "pan.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    n = 24 * fps
    for i in range(n):
        x = int(i * (panorama.shape[1] - w) / (n - 1))
        f = np.ascontiguousarray(panorama[:, x:x + w])
        for packet in stream.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    kfs = extract_keyframes(path, 3, 8, KeyframeSettings(drift_min_s=4.0))
    spans = sorted({(k.shot_start, k.shot_end) for k in kfs})
    assert len(spans) >= 3, spans  # a single cut-free shot, but not one keyframe for all of it
    assert spans[0][0] == 0.0 and abs(spans[-1][1] - 24.0) < 0.05
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))  # contiguous
    assert all(b - a >= 4.0 - 1e-6 for a, b in spans[:-1])


def test_a_static_shot_is_not_split_and_keyframes_hold_jpeg_bytes(tmp_path):
    path, _, _ = _long_video(tmp_path, [30.0], fps=25)
    kfs = extract_keyframes(path, 1, 8)
    assert len({(k.shot_start, k.shot_end) for k in kfs}) == 1 and len(kfs) == 2
    assert kfs[0].jpeg[:2] == b"\xff\xd8" and kfs[0].image.shape == (240, 320, 3)
