"""Errors the vision stages raise for one bad asset; callers log them and go on with the rest."""


class VisionError(Exception):
    """Base class: a problem with one asset (image, video) or one model file."""


class ImageError(VisionError):
    """An image that is missing, empty, corrupt, too small or otherwise unusable."""


class ImageMissing(ImageError, FileNotFoundError):
    """The file is not there at all (a missing asset, not a corrupt one): also a
    FileNotFoundError, so code that does not know vision_common can tell the two apart."""


class VideoError(VisionError):
    """A video that is missing or cannot be decoded."""


class ModelError(VisionError):
    """A model file that is not where the settings say (run scripts/fetch_models.py)."""
