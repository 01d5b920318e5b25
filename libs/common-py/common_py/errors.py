"""Error codes: every failure that reaches a log line or a DLQ header says what it was and
whether trying again can help (SPEC §10)."""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    # fatal: the same message will fail the same way; retrying wastes time
    MALFORMED_MESSAGE = "MALFORMED_MESSAGE"
    SCHEMA_INVALID = "SCHEMA_INVALID"
    UNKNOWN_JOB = "UNKNOWN_JOB"
    ASSET_MISSING = "ASSET_MISSING"
    ASSET_CORRUPT = "ASSET_CORRUPT"
    BAD_INPUT = "BAD_INPUT"
    JOB_FAILED = "JOB_FAILED"
    # the consumer died (killed, or crashed by the message) on every delivery up to the limit
    CONSUMER_CRASHED = "CONSUMER_CRASHED"
    # DATA_ROOT cannot take a file (disk full, read-only, no permission): nothing is written
    STORAGE_UNWRITABLE = "STORAGE_UNWRITABLE"
    # retryable: the world may be different next time
    DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"

    @property
    def retryable(self) -> bool:
        return self in _RETRYABLE


_RETRYABLE = {ErrorCode.DEPENDENCY_UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.INTERNAL}


def asset_error_code(exc: BaseException) -> ErrorCode:
    """An input file that is not there is a missing asset; one that is there but unusable is a
    corrupt one (readers raise FileNotFoundError, or a subclass of it, for the first)."""
    return ErrorCode.ASSET_MISSING if isinstance(exc, FileNotFoundError) else ErrorCode.ASSET_CORRUPT


class PipelineError(Exception):
    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def retryable(self) -> bool:
        return self.code.retryable


class RetryableError(PipelineError):
    code = ErrorCode.DEPENDENCY_UNAVAILABLE


class FatalError(PipelineError):
    """Dead-letter the message at once: no retry can fix it."""

    code = ErrorCode.BAD_INPUT

    def __init__(self, message: str, code: ErrorCode | None = None):
        super().__init__(message, code)
        if self.code.retryable:
            raise ValueError(f"{self.code} is retryable; a FatalError needs a fatal code")


class JobFailed(FatalError):
    """The job cannot proceed: dead-letter the message and publish ``job.failed``."""

    code = ErrorCode.JOB_FAILED


class StorageUnwritable(JobFailed):
    """DATA_ROOT cannot take a file the job needs (disk full, a size limit, read-only, no
    permission): the job cannot finish, and trying again will not help until an operator acts."""

    code = ErrorCode.STORAGE_UNWRITABLE


class AlreadyHandled(Exception):
    """The event's inbox row exists: its effects are already committed."""


class JobFinished(Exception):
    """The event's job is completed or failed: nothing may change it any more."""
