"""Web addresses the API hands out: a video opened at a moment, and the paths of images it serves."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

YOUTUBE_HOSTS = ("youtube.com", "youtu.be", "youtube-nocookie.com")
BILIBILI_HOSTS = ("bilibili.com", "b23.tv")


def _on(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


def watch_url(url: str | None, ts: float) -> str | None:
    """The video's page at `ts` seconds: YouTube and Bilibili take `t=` in the query (whole
    seconds), any other web address gets a media fragment (`#t=12.5`, which browsers honour for
    video files). None for a video without a web address (a local dataset's `local://...`)."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    seconds = max(0, int(ts))
    host = parts.hostname.lower()
    if _on(host, YOUTUBE_HOSTS) or _on(host, BILIBILI_HOSTS):
        value = f"{seconds}s" if _on(host, YOUTUBE_HOSTS) else str(seconds)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "t"] + [("t", value)]
        return urlunsplit(parts._replace(query=urlencode(query), fragment=""))
    return urlunsplit(parts._replace(fragment=f"t={max(0.0, ts):g}"))


def evidence_url(match_id: str) -> str:
    return f"/evidence/{quote(match_id)}.jpg"


def product_image_url(img_id: str) -> str:
    return f"/product-images/{quote(img_id)}"


def frame_url(frame_id: str) -> str:
    return f"/frames/{quote(frame_id)}"
