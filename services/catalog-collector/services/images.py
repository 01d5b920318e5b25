"""Catalog image normalisation: RGB, EXIF orientation applied, longest side capped, JPEG (an
image that already is all that is stored unchanged); plus a perceptual hash so near-duplicate
gallery images are stored once."""

from __future__ import annotations

import io
from dataclasses import dataclass

import imagehash
from PIL import Image, ImageOps, UnidentifiedImageError

Image.MAX_IMAGE_PIXELS = 80_000_000  # refuse decompression bombs (PIL raises beyond 2x this)


class BadImage(ValueError):
    pass


@dataclass(frozen=True)
class NormalizedImage:
    jpeg: bytes
    width: int
    height: int
    phash: str


def normalize(data: bytes, max_side: int, min_side: int = 32) -> NormalizedImage:
    if not data:
        raise BadImage("empty file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            # A JPEG that is already RGB, upright and small enough is kept byte for byte: every
            # re-encoding loses detail the matcher's fine-detail check looks at.
            as_is = (im.format == "JPEG" and im.mode == "RGB" and max(im.size) <= max_side
                     and im.getexif().get(0x0112, 1) == 1)
            im = ImageOps.exif_transpose(im)
            if im.mode in ("RGBA", "LA", "P"):
                # flatten transparency onto white, the usual e-commerce background
                rgba = im.convert("RGBA")
                background = Image.new("RGB", rgba.size, (255, 255, 255))
                background.paste(rgba, mask=rgba.getchannel("A"))
                im = background
            im = im.convert("RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise BadImage(f"not a decodable image: {exc}") from exc
    if min(im.size) < min_side:
        raise BadImage(f"too small ({im.size[0]}x{im.size[1]}, need >= {min_side}px)")
    if as_is:
        return NormalizedImage(data, im.size[0], im.size[1], str(imagehash.phash(im)))
    im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=92)
    return NormalizedImage(out.getvalue(), im.size[0], im.size[1], str(imagehash.phash(im)))


def phash_distance(a: str, b: str) -> int:
    return imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b)
