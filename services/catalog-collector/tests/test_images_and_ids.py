import io

import imagehash
import pytest
from PIL import Image

from services.collector import image_id_for, product_id_for
from services.images import BadImage, normalize, phash_distance
from services.sources.base import ProductRecord


def jpeg(img: Image.Image, **kw) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", **kw)
    return out.getvalue()


def pattern(w=300, h=200) -> Image.Image:
    im = Image.new("RGB", (w, h), (240, 240, 240))
    for x in range(0, w, 20):
        im.paste((200, 30, 30), (x, 0, x + 8, h // 2))
    im.paste((20, 60, 200), (0, h // 2, w // 3, h))
    return im


def test_exif_orientation_is_applied_and_size_capped():
    im = pattern(400, 200)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    out = normalize(jpeg(im, exif=exif.tobytes()), max_side=100)
    assert (out.width, out.height) == (50, 100)  # portrait after the EXIF rotation, longest side 100
    assert Image.open(io.BytesIO(out.jpeg)).mode == "RGB"


def test_an_image_that_needs_nothing_is_kept_byte_for_byte_and_others_are_reencoded():
    upright = jpeg(packshot(), quality=97)
    assert normalize(upright, max_side=512).jpeg == upright
    big = jpeg(packshot().resize((800, 800)), quality=97)
    assert normalize(big, max_side=512).jpeg != big
    png = io.BytesIO()
    packshot().save(png, "PNG")
    assert normalize(png.getvalue(), max_side=512).jpeg[:2] == b"\xff\xd8"  # now a JPEG


def test_transparency_is_flattened_on_white():
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    im.paste((255, 0, 0, 255), (16, 16, 48, 48))
    buf = io.BytesIO()
    im.save(buf, "PNG")
    out = Image.open(io.BytesIO(normalize(buf.getvalue(), max_side=512).jpeg))
    assert out.getpixel((2, 2))[0] > 240 and out.getpixel((2, 2))[2] > 240  # white, not black
    assert out.getpixel((32, 32))[0] > 200 and out.getpixel((32, 32))[1] < 60


@pytest.mark.parametrize("data, why", [(b"", "empty"), (b"GIF89a not really", "decodable"),
                                       (jpeg(pattern(20, 20)), "too small")])
def test_bad_images_are_refused_with_a_reason(data, why):
    with pytest.raises(BadImage, match=why):
        normalize(data, max_side=512)


def packshot(flip=False) -> Image.Image:
    """A product shot on white (box, band, logo, text): the kind of image a gallery holds."""
    from PIL import ImageDraw

    im = Image.new("RGB", (320, 320), "white")
    d = ImageDraw.Draw(im)
    d.rectangle((80, 40, 240, 290), fill=(30, 90, 170))
    d.rectangle((80, 200, 240, 250), fill=(240, 200, 40))
    d.ellipse((110, 70, 210, 170), fill=(250, 250, 250))
    d.text((100, 260), "OAT MILK", fill="white")
    return im.transpose(Image.Transpose.FLIP_TOP_BOTTOM) if flip else im


def test_phash_sees_a_recompressed_resized_copy_as_duplicate_and_another_picture_not():
    a = normalize(jpeg(packshot()), 512)
    b = normalize(jpeg(packshot().resize((200, 200)), quality=40), 512)
    c = normalize(jpeg(packshot(flip=True)), 512)
    assert phash_distance(a.phash, b.phash) <= 4 < phash_distance(a.phash, c.phash)
    assert str(imagehash.hex_to_hash(a.phash)) == a.phash


def test_ids_are_safe_and_stable():
    assert product_id_for(ProductRecord("amazon", "B0ABC123")) == "amz-B0ABC123"
    ebay = product_id_for(ProductRecord("ebay", "v1|1234|0"))
    assert ebay == "ebay-v1-1234-0"
    weird = product_id_for(ProductRecord("local", "../../etc/passwd"))
    assert "/" not in weird and not weird.startswith(".")
    assert image_id_for("p1", "a.jpg") == image_id_for("p1", "a.jpg") != image_id_for("p1", "b.jpg")
