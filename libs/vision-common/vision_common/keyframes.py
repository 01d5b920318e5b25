"""Keyframe selection: every shot of the video represented by its sharpest frame, more where a
shot is long or keeps changing, within a ceiling that grows with the video's length.

A product video is a sequence of shots; a shot change is where the colour histogram of the
picture jumps. Within a shot the frames show the same thing, so its best representative is the
sharpest (variance of the Laplacian: motion blur and defocus both lower it). A shot that drifts
(a pan along a shelf, a product brought into view) is cut into *spans* once its picture has moved
far enough from where the span began, and every span is treated like a shot. Near-black or flat
frames (fades, title cards) are never chosen.

Per span: its sharpest frame (the primary), and for spans of at least ``long_shot_s`` a second
one ``min_gap_s`` away (another look at the same object: consistency evidence for the matcher).
The video's budget is ``max_frames`` for a short clip and ``per_minute`` per minute of a long one,
at most ``max_total``; primaries go first (the longest spans when there are more spans than
budget), then second frames, longest span first. Every keyframe carries the span it stands for
(``shot_start``, ``shot_end``), which is what a match's on-screen segments are made of.

Decoding (PyAV, FFmpeg) looks only at ``sample_fps`` frames a second: the others are decoded
(a codec needs them) but never converted, and frames no other frame refers to (B-frames) are not
even decoded when the stream has enough frames without them. The sampled frames are analysed at
``analysis_side`` pixels; only a span's few best candidates are kept at full size. ``ts`` is
the frame's presentation time from the container, so it is exact for variable frame rates too.
A kept frame is held as JPEG bytes (what media-ingestion stores), so memory stays small for a long
video.
"""
from __future__ import annotations

import heapq
import logging
import math
import os
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import av
from av.video.reformatter import VideoReformatter
import cv2
import numpy as np

from .errors import VideoError
from .image_io import decode_image, encode_image

log = logging.getLogger(__name__)

# media-ingestion stores keyframes as JPEG at this quality and every later stage reads that file;
# scripts/bench_quality.py goes through the same bytes, so it sees the same pixels.
KEYFRAME_JPEG_QUALITY = 92


@dataclass
class Keyframe:
    ts: float  # seconds from the start of the video
    jpeg: bytes  # the frame, encoded as it is stored
    sharpness: float = 0.0
    shot: int = 0  # index of the span (shot, or part of a drifting shot) it stands for
    shot_start: float = 0.0
    shot_end: float = 0.0

    @property
    def image(self) -> np.ndarray:
        """The frame as BGR uint8 (decoded on each access: callers keep what they need)."""
        return decode_image(self.jpeg, f"keyframe@{self.ts:.3f}s")


@dataclass
class KeyframeSettings:
    min_frames: int = 3
    max_frames: int = 8  # the budget of a short clip (SPEC: 3-8)
    per_minute: float = 30.0  # the budget of a long video, per minute
    max_total: int = 600  # and never more than this per video
    sample_fps: float = 5.0
    # Bhattacharyya distance between HSV histograms of consecutive samples (0.2 s apart).
    # Measured on the grocery clips: inside a moving shot <= 0.13, across a cut >= 0.20.
    cut_threshold: float = 0.18
    min_shot_s: float = 0.5  # a second jump closer than this to a cut is a fade: the shot restarts
    # A shot is cut into a new span when its picture is this far (same distance) from the span's
    # first sample, and the span is at least drift_min_s long.
    drift_threshold: float = 0.25
    drift_min_s: float = 4.0
    min_gap_s: float = 0.6  # between a span's two keyframes
    long_shot_s: float = 2.0  # spans at least this long get a second keyframe
    max_side: int = 960  # keyframes are stored at most this large
    analysis_side: int = 480  # cut and sharpness analysis size
    threads: int = 1  # decoder threads


@dataclass
class _Span:
    index: int
    start: float
    end: float = 0.0
    ref_hist: np.ndarray | None = None  # the span's first sample, for drift
    # (sharpness, seq, ts, BGR image) of the sharpest few samples (min-heap on sharpness)
    best: list = field(default_factory=list)


@dataclass
class _Candidate:
    span: _Span
    sharpness: float
    ts: float
    jpeg: bytes
    primary: bool


def _hist(small_bgr: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2HSV)
    h = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 4], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(h, h).flatten()


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return cv2.compareHist(a, b, cv2.HISTCMP_BHATTACHARYYA)


def sharpness(gray: np.ndarray) -> float:
    return float(cv2.Laplacian(gray, cv2.CV_32F).var())


def _resize_max(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    if max(h, w) <= side:
        return image
    s = side / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def budget(duration_s: float, ks: KeyframeSettings) -> int:
    """How many keyframes a video of ``duration_s`` may have."""
    return int(min(ks.max_total, max(ks.max_frames, math.ceil(ks.per_minute * duration_s / 60.0))))


def _open(p: Path):
    if not p.is_file():
        raise VideoError(f"{p}: video file not found")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: empty video file")
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise VideoError(f"{p}: cannot open video (corrupt or unsupported codec): {exc}") from exc
    if not container.streams.video:
        container.close()
        raise VideoError(f"{p}: cannot open video: no video stream")
    return container, container.streams.video[0]


def extract_keyframes(video_path: str | os.PathLike, min_frames: int = 3, max_frames: int = 8,
                      settings: KeyframeSettings | None = None) -> list[Keyframe]:
    """Pick the keyframes of a video (at least ``min_frames`` unless it is too short).

    ``min_frames``/``max_frames`` override the settings' (the SPEC's 3-8 for a short clip).
    Raises ``VideoError`` if the file is missing or no frame can be decoded.
    """
    ks = settings or KeyframeSettings()
    ks = KeyframeSettings(**{**ks.__dict__, "min_frames": min_frames, "max_frames": max_frames})
    p = Path(video_path)
    container, stream = _open(p)
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    if not rate or not math.isfinite(rate) or rate > 1000:
        rate = 0.0  # unknown: every frame is looked at (the sampling goes by timestamps anyway)
    stream.thread_type = "AUTO" if ks.threads > 1 else "SLICE"
    stream.thread_count = max(1, ks.threads)
    if rate >= 2 * ks.sample_fps:
        # frames no other frame refers to are not needed to sample at sample_fps: skip decoding them
        stream.codec_context.skip_frame = "NONREF"
    tb = stream.time_base
    t0 = stream.start_time or 0
    period = 1.0 / ks.sample_fps
    half_frame = 0.5 / rate if rate else 0.0

    reformatter = VideoReformatter()
    spans: list[_Span] = []
    candidates: list[_Candidate] = []
    seq = count()
    prev_hist = None
    next_sample = 0.0
    last_ts = 0.0
    sampled = 0
    try:
        for frame in container.decode(stream):
            ts = float((frame.pts - t0) * tb) if frame.pts is not None else last_ts + (1 / rate if rate else period)
            ts = max(0.0, ts)
            last_ts = max(last_ts, ts)
            if ts < next_sample - half_frame:
                continue
            while next_sample <= ts + half_frame:
                next_sample += period
            sampled += 1
            # swscale, on this thread (its default starts a thread pool per call): the same pixels
            # as OpenCV's own reader
            image = reformatter.reformat(frame, format="bgr24", threads=1).to_ndarray()
            small_bgr = _resize_max(image, ks.analysis_side)
            ah, aw = small_bgr.shape[:2]
            thumb = cv2.resize(small_bgr, (160, max(1, int(160 * ah / aw))), interpolation=cv2.INTER_AREA)
            h = _hist(thumb)
            if prev_hist is None or _distance(prev_hist, h) > ks.cut_threshold:
                if spans and ts - spans[-1].start < ks.min_shot_s:
                    # a second jump right after a cut: a fade or flash; restart the shot there
                    # (its frames so far are transition blends, not keyframe material)
                    spans[-1].start, spans[-1].best, spans[-1].ref_hist = ts, [], h
                else:
                    _close(spans, ts, ks, candidates)
                    spans.append(_Span(len(spans), ts, ref_hist=h))
            elif ts - spans[-1].start >= ks.drift_min_s and _distance(spans[-1].ref_hist, h) > ks.drift_threshold:
                _close(spans, ts, ks, candidates)
                spans.append(_Span(len(spans), ts, ref_hist=h))
            prev_hist = h
            gray = cv2.cvtColor(small_bgr, cv2.COLOR_BGR2GRAY)
            if gray.std() < 8.0:  # black / flat frame: never a keyframe
                continue
            item = (sharpness(gray), next(seq), ts, image)
            best = spans[-1].best
            if len(best) < 4:
                heapq.heappush(best, item)
            elif item[0] > best[0][0]:
                heapq.heapreplace(best, item)
    except av.error.FFmpegError as exc:
        if sampled == 0:
            raise VideoError(f"{p}: decode error ({exc})") from exc
        log.warning("%s: decode error after %.1fs of video, keeping what was read: %s", p, last_ts, exc)
    finally:
        end = last_ts + (1 / rate if rate else period)
        try:
            if sampled:
                _close(spans, end, ks, candidates)
        finally:
            container.close()
    if sampled == 0:
        raise VideoError(f"{p}: no frame could be decoded (corrupt, empty or unsupported codec)")
    return _select(candidates, budget(end, ks), ks)


def _close(spans: list[_Span], end: float, ks: KeyframeSettings, out: list[_Candidate]) -> None:
    """End the current span at ``end``: its primary and second-frame candidates, as JPEG."""
    if not spans:
        return
    sp = spans[-1]
    sp.end = end
    if not sp.best:
        return
    ranked = sorted(sp.best, key=lambda t: -t[0])
    first = ranked[0]
    picks = [(first, True)]
    second = next((t for t in ranked[1:] if abs(t[2] - first[2]) >= ks.min_gap_s), None)
    if second is not None:
        picks.append((second, False))
    for (sharp, _, ts, image), primary in picks:
        jpeg = encode_image(_resize_max(image, ks.max_side), ".jpg", KEYFRAME_JPEG_QUALITY)
        out.append(_Candidate(sp, sharp, ts, jpeg, primary))
    sp.best = []


def _select(candidates: list[_Candidate], cap: int, ks: KeyframeSettings) -> list[Keyframe]:
    def length(c: _Candidate) -> float:
        return c.span.end - c.span.start

    primaries = [c for c in candidates if c.primary]
    secondaries = [c for c in candidates if not c.primary]
    # too many spans: keep the longest (a product shown for longer matters more than a flash cut)
    chosen = sorted(primaries, key=lambda c: -length(c))[:cap]
    kept = {id(c.span) for c in chosen}
    # then a second frame from long spans (another viewpoint of the same object: consistency
    # evidence), longest first; and from any span if we are still below min_frames
    for c in sorted(secondaries, key=lambda c: -length(c)):
        if len(chosen) >= cap:
            break
        if id(c.span) in kept and (length(c) >= ks.long_shot_s or len(chosen) < ks.min_frames):
            chosen.append(c)
    chosen.sort(key=lambda c: c.ts)
    return [Keyframe(ts=c.ts, jpeg=c.jpeg, sharpness=c.sharpness, shot=c.span.index,
                     shot_start=round(c.span.start, 3), shot_end=round(c.span.end, 3)) for c in chosen]
