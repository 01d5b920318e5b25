import json
import logging
import os

import pytest

from common_py.errors import ErrorCode, FatalError
from common_py.logs import configure_logging, log_context
from common_py.storage import Storage, UnsafePath


def test_layout_and_atomic_write(tmp_path):
    st = Storage(tmp_path)
    rel = st.product_image("p1", "img1")
    assert rel == "products/p1/img1.jpg"
    assert st.frame("v1", "f1") == "videos/v1/frames/f1.jpg"
    assert st.keypoints("img1") == "kp/img1.npz" and st.evidence("m1") == "evidence/m1.jpg"
    st.write_bytes(rel, b"abc")
    assert st.resolve(rel).read_bytes() == b"abc"
    assert [p.name for p in st.resolve(rel).parent.iterdir()] == ["img1.jpg"]  # no temp file left


def test_failed_write_leaves_nothing(tmp_path):
    st = Storage(tmp_path)
    with pytest.raises(RuntimeError):
        with st.open_atomic("evidence/m1.jpg") as fh:
            fh.write(b"half")
            raise RuntimeError("crash mid-write")
    assert list((tmp_path / "evidence").iterdir()) == []


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b"])
def test_paths_cannot_escape_data_root(tmp_path, bad):
    with pytest.raises(UnsafePath):
        Storage(tmp_path).resolve(bad)


@pytest.mark.parametrize("bad", ["..", "a/b", "", "x" * 200, "-lead"])
def test_unsafe_ids_are_refused(tmp_path, bad):
    with pytest.raises(UnsafePath):
        Storage(tmp_path).product_image(bad, "img")


def test_json_logs_carry_service_ids_and_error_code(capsys):
    configure_logging("svc-x", "INFO")
    log = logging.getLogger("t")
    with log_context(job_id="job-9", event_id="ev-1"):
        log.error("boom", extra={"error_code": ErrorCode.ASSET_CORRUPT})
    log.info("outside")
    lines = [json.loads(l) for l in capsys.readouterr().err.strip().splitlines()]
    assert lines[0]["service"] == "svc-x" and lines[0]["job_id"] == "job-9" and lines[0]["event_id"] == "ev-1"
    assert lines[0]["error_code"] == "ASSET_CORRUPT" and lines[0]["retryable"] is False
    assert lines[0]["level"] == "ERROR" and lines[0]["message"] == "boom"
    assert lines[1]["job_id"] is None


def test_fatal_error_needs_a_fatal_code():
    with pytest.raises(ValueError):
        FatalError("x", ErrorCode.TIMEOUT)
    assert not FatalError("x", ErrorCode.ASSET_MISSING).retryable


def test_a_storage_that_takes_no_file_is_told_apart_from_a_bad_item():
    """Issue 16: a full or read-only DATA_ROOT must fail the job with the reason, not count as
    one bad image, video or picture after another."""
    import errno

    import pytest

    from common_py.errors import ErrorCode, StorageUnwritable
    from common_py.storage import raise_if_unwritable, unwritable

    for code in (errno.ENOSPC, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EDQUOT):
        assert unwritable(OSError(code, "x"))
    assert not unwritable(FileNotFoundError(errno.ENOENT, "gone")) and not unwritable(ValueError("bad"))
    try:  # found through the chain of causes, as a library wraps it
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as inner:
            raise RuntimeError("write failed") from inner
    except RuntimeError as outer:
        wrapped = outer
    assert unwritable(wrapped)
    with pytest.raises(StorageUnwritable) as err:
        raise_if_unwritable(wrapped, "evidence/m1.jpg")
    assert err.value.code == ErrorCode.STORAGE_UNWRITABLE and not err.value.retryable
    assert "cannot write evidence/m1.jpg under DATA_ROOT" in str(err.value)
    raise_if_unwritable(ValueError("a bad item"), "x")  # anything else is left to the caller
