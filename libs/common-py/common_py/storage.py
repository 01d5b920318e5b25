"""Files under DATA_ROOT (SPEC §5 layout), written atomically.

Every path that leaves this module (into Postgres or an event) is relative to DATA_ROOT, so the
same rows work on the host and inside a container that mounts DATA_ROOT elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, Iterator

from common_py.errors import ErrorCode, StorageUnwritable

log = logging.getLogger("common_py.storage")

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class UnsafePath(ValueError):
    pass


# what a write under DATA_ROOT fails with when the storage itself refuses it (not the data)
_UNWRITABLE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM}


def unwritable(exc: BaseException) -> bool:
    """Did a write fail because DATA_ROOT cannot take files (disk full, a file-size limit,
    read-only, no permission), wherever in the chain of causes that OSError is?"""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _UNWRITABLE:
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def raise_if_unwritable(exc: BaseException, what: str) -> None:
    """Where one bad item is skipped (an image, a video, an evidence picture), a storage that
    takes no file at all is not one bad item: raise StorageUnwritable, which fails the job with
    the reason instead of letting it finish with everything skipped."""
    if unwritable(exc):
        log.critical("cannot write %s under DATA_ROOT: %s", what, exc,
                     extra={"error_code": ErrorCode.STORAGE_UNWRITABLE})
        raise StorageUnwritable(f"cannot write {what} under DATA_ROOT: {exc}") from exc


def derive_id(raw: str, prefix: str = "", fallback_prefix: str = "x-", namespace: str = "") -> str:
    """A file-system-safe, stable id from a source's own id: `prefix + raw` with unsafe characters
    replaced when that is readable and short, otherwise `prefix` (or `fallback_prefix`) + a hash of
    `namespace|raw`, so ids from different sources never collide."""
    cleaned = _UNSAFE_CHARS.sub("-", raw).strip("-.")
    candidate = f"{prefix}{cleaned}"
    if cleaned and len(candidate) <= 96 and candidate[0].isalnum():
        return candidate
    return f"{prefix or fallback_prefix}{hashlib.sha1(f'{namespace}|{raw}'.encode()).hexdigest()[:20]}"


def check_id(value: str, what: str = "id") -> str:
    """Ids become file names: refuse anything that could escape its folder."""
    if not isinstance(value, str) or not _SAFE_ID.match(value) or value in {".", ".."}:
        raise UnsafePath(f"{what} {value!r} is not a safe id (letters, digits, '.', '_', '-')")
    return value


class Storage:
    def __init__(self, root: Path | str):
        self.root = Path(root).resolve()

    # -- layout (SPEC §5) -------------------------------------------------------------------
    def product_image(self, product_id: str, img_id: str, ext: str = "jpg") -> str:
        return f"products/{check_id(product_id, 'product_id')}/{check_id(img_id, 'img_id')}.{ext}"

    def video_file(self, video_id: str, ext: str = "mp4") -> str:
        return f"videos/{check_id(video_id, 'video_id')}/video.{ext}"

    def frame(self, video_id: str, frame_id: str) -> str:
        return f"videos/{check_id(video_id, 'video_id')}/frames/{check_id(frame_id, 'frame_id')}.jpg"

    def product_mask(self, img_id: str) -> str:
        return f"masks/products/{check_id(img_id, 'img_id')}.png"

    def frame_mask(self, frame_id: str) -> str:
        return f"masks/frames/{check_id(frame_id, 'frame_id')}.png"

    def keypoints(self, asset_id: str) -> str:
        return f"kp/{check_id(asset_id, 'asset_id')}.npz"

    def evidence(self, match_id: str) -> str:
        return f"evidence/{check_id(match_id, 'match_id')}.jpg"

    # -- resolution ---------------------------------------------------------------------------
    def resolve(self, rel: str | os.PathLike) -> Path:
        """Absolute path of a DATA_ROOT-relative path; refuses paths that leave DATA_ROOT."""
        rel_path = PurePosixPath(os.fspath(rel))
        if rel_path.is_absolute() or ".." in rel_path.parts:
            raise UnsafePath(f"{rel!s} is not a relative path under DATA_ROOT")
        path = (self.root / rel_path).resolve()
        if path != self.root and self.root not in path.parents:
            raise UnsafePath(f"{rel!s} resolves outside DATA_ROOT")
        return path

    def relative(self, path: Path | str) -> str:
        return Path(path).resolve().relative_to(self.root).as_posix()

    def exists(self, rel: str | None) -> bool:
        return bool(rel) and self.resolve(rel).is_file()

    # -- atomic writes ------------------------------------------------------------------------
    @contextlib.contextmanager
    def open_atomic(self, rel: str, mode: str = "wb") -> Iterator[IO]:
        """Write to a temp file beside the target and rename it into place on success, so a
        reader never sees half a file and a crash leaves no partial one behind."""
        target = self.resolve(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, mode) as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def write_bytes(self, rel: str, data: bytes) -> str:
        with self.open_atomic(rel) as fh:
            fh.write(data)
        return rel
