import cv2
import numpy as np
import pytest

from vision_common.errors import ImageError
from vision_common.image_io import read_image, read_mask, read_npz, write_jpg, write_npz, write_png


def test_read_image_round_trip_and_gray_expanded(tmp_path):
    img = np.random.default_rng(0).integers(0, 255, (40, 50), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "g.png"), img)
    out = read_image(tmp_path / "g.png")
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], img)


@pytest.mark.parametrize("content,needle", [(None, "not found"), (b"", "empty"),
                                           (b"\x89PNG\r\n\x1a\nthis is not a png", "not a decodable")])
def test_read_image_bad_files_raise_clear_errors(tmp_path, content, needle):
    p = tmp_path / "bad.jpg"
    if content is not None:
        p.write_bytes(content)
    with pytest.raises(ImageError, match=needle) as ei:
        read_image(p)
    assert "bad.jpg" in str(ei.value)


def test_read_image_tiny_rejected(tmp_path):
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((5, 40, 3), np.uint8))
    with pytest.raises(ImageError, match="too small"):
        read_image(tmp_path / "tiny.png")


def test_truncated_jpeg_is_an_error_or_a_usable_image(tmp_path):
    img = np.random.default_rng(1).integers(0, 255, (120, 120, 3), dtype=np.uint8)
    data = cv2.imencode(".jpg", img)[1].tobytes()
    (tmp_path / "t.jpg").write_bytes(data[:40])  # header only: nothing to decode
    with pytest.raises(ImageError):
        read_image(tmp_path / "t.jpg")


def test_writers_are_atomic_and_leave_no_temp_files(tmp_path):
    img = np.full((30, 30, 3), 100, np.uint8)
    write_jpg(tmp_path / "a" / "x.jpg", img)
    write_png(tmp_path / "a" / "m.png", np.full((30, 30), 255, np.uint8))
    write_npz(tmp_path / "a" / "f.npz", v=np.arange(5))
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["f.npz", "m.png", "x.jpg"]
    assert abs(int(read_image(tmp_path / "a" / "x.jpg").mean()) - 100) <= 2
    assert np.array_equal(read_npz(tmp_path / "a" / "f.npz")["v"], np.arange(5))


def test_read_mask_binarises_and_resizes(tmp_path):
    m = np.zeros((20, 20), np.uint8)
    m[5:15, 5:15] = 200
    m[0, 0] = 100  # below half: background
    cv2.imwrite(str(tmp_path / "m.png"), m)
    out = read_mask(tmp_path / "m.png", shape=(40, 40))
    assert out.shape == (40, 40) and set(np.unique(out)) == {0, 255}
    assert out[20, 20] == 255 and out[0, 0] == 0


def test_corrupt_npz_is_an_image_error(tmp_path):
    (tmp_path / "k.npz").write_bytes(b"garbage")
    with pytest.raises(ImageError, match="unreadable"):
        read_npz(tmp_path / "k.npz")


def test_a_missing_file_is_image_missing_and_a_huge_one_is_refused_before_decoding(tmp_path):
    """Issue 16: a missing file read as a corrupt one (ASSET_CORRUPT), and a 20000x20000 image
    was decoded into 1.2 GB before anything looked at its size."""
    from PIL import Image

    from vision_common.errors import ImageMissing

    for read in (read_image, read_mask):
        with pytest.raises(ImageMissing) as err:
            read(tmp_path / "nope.png")
        assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ImageError)
    big = tmp_path / "big.png"
    Image.new("1", (10000, 9000), 1).save(big)  # 90 MP: past MAX_PIXELS, under Pillow's own limit
    with pytest.raises(ImageError, match=r"image too large \(10000x9000"):
        read_image(big)
    huge = tmp_path / "huge.png"
    Image.new("1", (20000, 20000), 1).save(huge)
    with pytest.raises(ImageError, match="image too large"):
        read_image(huge)
