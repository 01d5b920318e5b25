"""Keyframe selection: one sharp frame per shot (two for long shots), 3-8 per video.

A product video is a sequence of shots; a shot change is where the colour histogram of the
picture jumps. Within a shot the frames show the same thing, so the best representative is the
sharpest (variance of the Laplacian: motion blur and defocus both lower it). Near-black or
flat frames (fades, title cards) are never chosen.

Decoding is sequential with ``grab()`` for frames we do not analyse (cheap: no colour conversion),
sampling at most ``sample_fps`` frames per second, so a long video costs little more than a short
one. ``ts`` is the frame index over the stream's frame rate: exact for constant-frame-rate files
(CAP_PROP_POS_MSEC is not reliable for every container).
"""
from __future__ import annotations

import heapq
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .errors import VideoError

# cut_threshold: Bhattacharyya distance between HSV histograms of consecutive samples (0.2 s
# apart). Measured on the grocery clips: inside a moving shot <= 0.13, across a cut >= 0.20.

log = logging.getLogger(__name__)


# media-ingestion stores keyframes as JPEG at this quality and every later stage reads that file;
# scripts/bench_quality.py goes through the same encode/decode so it sees the same pixels.
KEYFRAME_JPEG_QUALITY = 92


@dataclass
class Keyframe:
    ts: float  # seconds from the start of the video
    image: np.ndarray  # BGR uint8
    sharpness: float = 0.0
    shot: int = 0
    frame_index: int = 0


@dataclass
class _Shot:
    index: int
    start: float
    end: float = 0.0
    # (sharpness, ts, frame_index, image) of the sharpest few frames (min-heap on sharpness)
    best: list = field(default_factory=list)


def _hist(small_bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2HSV)
    h = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(h, h).flatten()


def sharpness(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def extract_keyframes(video_path: str | os.PathLike, min_frames: int = 3, max_frames: int = 8,
                      sample_fps: float = 5.0, cut_threshold: float = 0.18, min_shot_s: float = 0.5, min_gap_s: float = 0.6,
                      long_shot_s: float = 2.0, max_side: int = 960) -> list[Keyframe]:
    """Pick ``min_frames``..``max_frames`` sharp keyframes (fewer only if the video is too short).

    Raises ``VideoError`` if the file is missing or no frame can be decoded.
    """
    p = Path(video_path)
    if not p.is_file():
        raise VideoError(f"{p}: video file not found")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: empty video file")
    cap = cv2.VideoCapture(str(p))
    if not cap.isOpened():
        raise VideoError(f"{p}: cannot open video (corrupt or unsupported codec)")
    fps = cap.get(cv2.CAP_PROP_FPS)
    if not fps or not np.isfinite(fps) or fps <= 0 or fps > 1000:
        log.warning("%s: no usable frame rate (%r), assuming 25", p, fps)
        fps = 25.0
    step = max(1, int(round(fps / sample_fps)))

    shots: list[_Shot] = []
    prev_hist = None
    idx = -1
    decoded = 0
    try:
        while True:
            if not cap.grab():
                break
            idx += 1
            if idx % step:
                continue
            ok, frame = cap.retrieve()
            if not ok or frame is None:
                continue
            decoded += 1
            if max(frame.shape[:2]) > max_side:
                s = max_side / max(frame.shape[:2])
                frame = cv2.resize(frame, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
            ts = idx / fps
            small = cv2.resize(frame, (160, max(1, int(160 * frame.shape[0] / frame.shape[1]))),
                               interpolation=cv2.INTER_AREA)
            h = _hist(small)
            if prev_hist is None or cv2.compareHist(prev_hist, h, cv2.HISTCMP_BHATTACHARYYA) > cut_threshold:
                if shots and ts - shots[-1].start < min_shot_s:
                    # a second jump right after a cut: a fade or flash; restart the shot there
                    # (its frames so far are transition blends, not keyframe material)
                    shots[-1].start, shots[-1].best = ts, []
                else:
                    if shots:
                        shots[-1].end = ts
                    shots.append(_Shot(len(shots), ts))
            prev_hist = h
            gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            if gray.std() < 8.0:  # black / flat frame: never a keyframe
                continue
            item = (sharpness(gray), ts, idx, frame)
            best = shots[-1].best
            if len(best) < 4:
                heapq.heappush(best, item)
            elif item[0] > best[0][0]:
                heapq.heapreplace(best, item)
    except cv2.error as exc:
        if decoded == 0:
            raise VideoError(f"{p}: decode error ({exc})") from exc
        log.warning("%s: decode error after %d frames, keeping what was read: %s", p, decoded, exc)
    finally:
        cap.release()
    if decoded == 0:
        raise VideoError(f"{p}: no frame could be decoded (corrupt, empty or unsupported codec)")
    if shots:
        shots[-1].end = (idx + 1) / fps
    return _select(shots, min_frames, max_frames, min_gap_s, long_shot_s)


def _select(shots: list[_Shot], min_frames: int, max_frames: int, min_gap_s: float,
            long_shot_s: float) -> list[Keyframe]:
    primaries, secondaries = [], []
    for sh in shots:
        if not sh.best:
            continue
        ranked = sorted(sh.best, key=lambda t: -t[0])
        first = ranked[0]
        primaries.append((sh, first))
        second = next((t for t in ranked[1:] if abs(t[1] - first[1]) >= min_gap_s), None)
        if second is not None:
            secondaries.append((sh, second))
    # too many shots: keep the longest (a product shown for longer matters more than a flash cut)
    if len(primaries) > max_frames:
        primaries = sorted(primaries, key=lambda x: -(x[0].end - x[0].start))[:max_frames]
    chosen = list(primaries)
    # add a second frame from long shots (another viewpoint of the same object: consistency
    # evidence), longest first; and from any shot if we are still below min_frames
    secondaries.sort(key=lambda x: -(x[0].end - x[0].start))
    for sh, item in secondaries:
        if len(chosen) >= max_frames:
            break
        if (sh.end - sh.start) >= long_shot_s or len(chosen) < min_frames:
            if any(s is sh for s, _ in primaries):
                chosen.append((sh, item))
    chosen.sort(key=lambda x: x[1][1])
    return [Keyframe(ts=float(t[1]), image=t[3], sharpness=float(t[0]), shot=sh.index, frame_index=int(t[2]))
            for sh, t in chosen]
