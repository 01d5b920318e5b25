"""YtDlpVideoSource driven by recorded extractor results (tests/fixtures/ytdlp_recording.json):
yt-dlp's own playlist handling, format selection and HTTP download run for real, against a
media server on 127.0.0.1."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import ytdlp_replay
from media_server import MediaServer
from services.sources.base import SourceError, VideoRecord
from services.sources.ytdlp import YtDlpOptions, YtDlpVideoSource

RECORDING = Path(__file__).with_name("fixtures") / "ytdlp_recording.json"
OPTS = dict(max_filesize=50_000_000, max_duration_s=1200, socket_timeout_s=2)


@pytest.fixture
def media():
    server = MediaServer()
    yield server
    server.close()


@pytest.fixture
def calls(media, monkeypatch):
    return ytdlp_replay.install(ytdlp_replay.load(RECORDING, media.base), setattr_=monkeypatch.setattr)


def yt(**kw) -> YtDlpVideoSource:
    return YtDlpVideoSource("youtube", YtDlpOptions(**{**OPTS, **kw}))


async def test_search_keeps_recent_short_downloadable_videos_across_queries(calls):
    got = await yt().search("ergonomic pillow", ["ergonomic pillow", "pillow review"], 30, 10)
    assert [r.source_id for r in got] == ["Xq3pTq8mNfA", "N4wQuery2v0"]
    # 8 h of rain: skipped from the search page alone; live: too. Old (400 d, 40 d), and the
    # 4K showcase whose selected format is over the size cap: skipped after their pages.
    assert calls.of("youtube") == ["Xq3pTq8mNfA", "R2dT7yHs1Qo", "H7uGeFile00", "k9Vb2LmQw0E", "N4wQuery2v0"]
    assert calls.of("ytsearch") == ["ergonomic pillow", "pillow review"]
    first = got[0]
    assert (first.platform, first.url, first.duration_s) == ("youtube", "https://www.youtube.com/watch?v=Xq3pTq8mNfA", 412)
    assert abs(first.published_at - (datetime.now(timezone.utc) - timedelta(days=12))) < timedelta(minutes=5)
    assert first.title.startswith("Best Ergonomic Pillow 2026")


async def test_the_recency_window_decides(calls):
    ids = [r.source_id for r in await yt().search("x", ["ergonomic pillow"], 60, 10)]
    assert ids == ["Xq3pTq8mNfA", "k9Vb2LmQw0E"]  # the 40-day-old unboxing is in a 60-day window
    assert [r.source_id for r in await yt().search("x", ["ergonomic pillow"], 5, 10)] == []


async def test_limits_stop_the_search_early(calls):
    got = await yt(max_videos=1).search("x", ["ergonomic pillow", "pillow review"], 30, 10)
    assert [r.source_id for r in got] == ["Xq3pTq8mNfA"]
    assert calls.of("ytsearch") == ["ergonomic pillow"] and calls.of("youtube") == ["Xq3pTq8mNfA"]


async def test_the_duration_cap_also_applies_when_the_search_page_does_not_tell(calls):
    got = await yt(max_duration_s=300).search("x", ["ergonomic pillow", "pillow review"], 30, 10)
    assert [r.source_id for r in got] == ["N4wQuery2v0"]  # 412 s and 268 s: only the second fits


async def test_one_failing_query_is_skipped_all_failing_fail_the_source(calls):
    got = await yt().search("x", ["rate limited query", "pillow review"], 30, 10)
    assert [r.source_id for r in got] == ["Xq3pTq8mNfA", "N4wQuery2v0"]
    with pytest.raises(SourceError, match="429"):
        await yt().search("x", ["rate limited query"], 30, 10)


async def test_downloads_the_smallest_format_of_at_least_480p(calls, media, tmp_path):
    media.add("/videoplayback/Xq3pTq8mNfA/244.webm", b"\x1aE\xdf\xa3" + b"v" * 30_000)
    rec = (await yt().search("x", ["ergonomic pillow"], 30, 1))[0]
    path = await yt().fetch(rec, tmp_path / "dl")
    # 480p: vp9 9.3 MB beats avc1 12.4 MB; the AV1 7.9 MB is not decodable by OpenCV, 360p too small
    assert media.paths() == ["/videoplayback/Xq3pTq8mNfA/244.webm"]
    assert path.parent == tmp_path / "dl" and path.read_bytes()[4:10] == b"vvvvvv"
    assert calls.of("youtube") == ["Xq3pTq8mNfA"]  # the page is not fetched again for the download


async def test_below_480p_the_best_there_is(calls, media, tmp_path):
    rec = (await yt().search("x", ["pillow review"], 30, 1))[0]
    info = dict(rec.source_data)
    info["formats"] = [f for f in info["formats"] if (f.get("height") or 0) < 480]
    media.add("/videoplayback/Xq3pTq8mNfA/243.webm", b"v" * 1000)
    await yt().fetch(VideoRecord("youtube", rec.source_id, rec.url, source_data=info), tmp_path)
    assert media.paths() == ["/videoplayback/Xq3pTq8mNfA/243.webm"]  # 360p vp9, the smallest 360p


async def test_bilibili_search_and_download_with_its_referer(calls, media, tmp_path):
    bili = YtDlpVideoSource("bilibili", YtDlpOptions(**OPTS))
    got = await bili.search("ergonomic pillow", ["ergonomic pillow"], 30, 10)
    assert [(r.platform, r.source_id, r.duration_s) for r in got] == [("bilibili", "BV1Ht4y1M7pq", 183.4)]
    assert calls.of("bilibili") == ["1205551234", "1205559999"]  # the second is 900 days old
    media.add("/upgcxcode/BV1Ht4y1M7pq/30032.m4s", b"b" * 20_000)
    await bili.fetch(got[0], tmp_path)
    path, headers = media.seen[-1]
    assert path == "/upgcxcode/BV1Ht4y1M7pq/30032.m4s"  # 480P avc1: smaller HEVC 720P is not >=480-smallest
    assert headers["referer"] == "https://www.bilibili.com/video/BV1Ht4y1M7pq/"


async def test_a_declared_size_over_the_cap_is_not_downloaded(calls, media, tmp_path):
    rec = (await yt().search("x", ["ergonomic pillow"], 30, 1))[0]
    media.add("/videoplayback/Xq3pTq8mNfA/244.webm", b"v" * 60_000)
    with pytest.raises(SourceError, match="nothing downloaded"):
        await yt(max_filesize=50_000).fetch(rec, tmp_path)
    assert not list(tmp_path.rglob("*.webm"))


async def test_an_undeclared_size_over_the_cap_is_cut_off(calls, media, tmp_path):
    rec = (await yt().search("x", ["ergonomic pillow"], 30, 1))[0]
    media.add("/videoplayback/Xq3pTq8mNfA/244.webm", b"v" * 200_000, chunked=True)
    with pytest.raises(SourceError, match="passed 50000 bytes"):
        await yt(max_filesize=50_000).fetch(rec, tmp_path)


async def test_a_download_past_its_time_cap_is_stopped(calls, media, tmp_path):
    rec = (await yt().search("x", ["ergonomic pillow"], 30, 1))[0]
    media.add("/videoplayback/Xq3pTq8mNfA/244.webm", b"v" * 40_000, trickle_s=0.05)
    with pytest.raises(SourceError, match="longer than 0.4s"):
        await yt(download_timeout_s=0.4).fetch(rec, tmp_path)


async def test_a_missing_file_is_an_item_error(calls, media, tmp_path):
    rec = (await yt().search("x", ["ergonomic pillow"], 30, 1))[0]
    with pytest.raises(SourceError, match="404"):
        await yt().fetch(rec, tmp_path)


def test_cookies_and_js_runtime_reach_yt_dlp(tmp_path):
    cookies = tmp_path / "cookies.txt"
    cookies.write_text("# Netscape HTTP Cookie File\n")
    params = YtDlpVideoSource("youtube", YtDlpOptions(
        cookies_file=cookies, js_runtime="node", js_runtime_path="/usr/bin/node",
        remote_components=("ejs:github",)))._params()
    assert params["cookiefile"] == str(cookies)
    assert params["js_runtimes"] == {"node": {"path": "/usr/bin/node"}}
    assert params["remote_components"] == ["ejs:github"]
    assert "cookiefile" not in YtDlpVideoSource("youtube")._params()

