"""The addresses the API hands out: a video opened at the match's moment."""

import pytest

from services.links import watch_url


@pytest.mark.parametrize("url, ts, expected", [
    ("https://www.youtube.com/watch?v=abc", 12.7, "https://www.youtube.com/watch?v=abc&t=12s"),
    ("https://youtube.com/watch?v=abc&t=99s&list=L", 4.0, "https://youtube.com/watch?v=abc&list=L&t=4s"),
    ("https://m.youtube.com/watch?v=abc#frag", 0.2, "https://m.youtube.com/watch?v=abc&t=0s"),
    ("https://youtu.be/abc", 61.0, "https://youtu.be/abc?t=61s"),
    ("https://www.youtube.com/shorts/abc", 3.0, "https://www.youtube.com/shorts/abc?t=3s"),
    ("https://www.bilibili.com/video/BV1xx411c7mD", 40.9, "https://www.bilibili.com/video/BV1xx411c7mD?t=40"),
    ("https://www.bilibili.com/video/BV1xx?p=2", 5.0, "https://www.bilibili.com/video/BV1xx?p=2&t=5"),
    ("https://cdn.example.com/clip.mp4", 4.8, "https://cdn.example.com/clip.mp4#t=4.8"),
    ("https://notyoutube.com/watch?v=abc", 4.0, "https://notyoutube.com/watch?v=abc#t=4"),  # not a YouTube host
    ("local://demo/demo-01", 4.8, None),
    ("file:///etc/passwd", 1.0, None),
    ("", 1.0, None),
    (None, 1.0, None),
])
def test_watch_url_opens_the_video_at_the_moment(url, ts, expected):
    assert watch_url(url, ts) == expected
