"""The one error hierarchy of raypachy.

Every error raised on purpose by raypachy is a ``RaypachyError``. Each family has a
stable ``code`` (used by the HTTP API and the CLI) and, where it fits, is also a
builtin so that ordinary ``except KeyError`` / ``except ValueError`` code works::

    RaypachyError
    ├── NotFoundError (KeyError)                 code "not_found"       HTTP 404
    │   ├── RepoNotFoundError, BranchNotFoundError, CommitNotFoundError, PathNotFoundError
    │   ├── PipelineNotFoundError, JobNotFoundError, DatumNotFoundError
    │   └── SecretNotFoundError, TransactionNotFoundError, ProjectNotFoundError
    ├── AlreadyExistsError                       code "already_exists"  HTTP 409
    │   ├── RepoExistsError, BranchExistsError, PipelineExistsError, SecretExistsError
    │   └── ProjectExistsError
    ├── ConflictError                            code "conflict"        HTTP 409
    │   ├── CommitConflictError   (a branch moved under you: compare-and-swap lost)
    │   ├── CommitFinishedError   (writing to, or finishing, a finished commit)
    │   ├── CommitOpenError       (the operation needs a finished commit)
    │   ├── GCBusyError           (gc and writers exclude each other)
    │   ├── LeaseExpiredError     (a writer's lease lapsed: what it stored may be gone)
    │   └── ProjectNotEmptyError  (a project to delete still holds repos or pipelines)
    ├── InvalidArgumentError (ValueError)        code "invalid_argument" HTTP 400
    │   ├── InvalidNameError, InvalidPathError, InvalidAddressError, InvalidGlobError
    │   ├── InvalidSpecError, IngestError (a URL to put files from could not be read)
    │   │   └── TooManyDatumsError (an input tree over RAYPACHY_MAX_DATUMS)
    │   └── RangeNotSatisfiableError (a byte range past the end of a file: HTTP 416)
    ├── UnauthenticatedError                     code "unauthenticated" HTTP 401 (no, a wrong
    │                                            or an expired token)
    ├── PermissionDeniedError                    code "forbidden"       HTTP 403 (the caller
    │                                            lacks the role it names)
    ├── TooManyRequestsError                     code "too_many_requests" HTTP 429
    ├── PayloadTooLargeError                     code "payload_too_large" HTTP 413
    ├── StorageError                             code "storage_error"   HTTP 500
    │   ├── ChunkCorruptedError   (bytes on storage do not match their id)
    │   ├── ObjectMissingError    (a referenced chunk or manifest is gone)
    │   └── BackendError          (the backend itself failed: disk, network, S3)
    ├── UnavailableError                         code "unavailable"     HTTP 503
    ├── WaitTimeoutError (TimeoutError)          code "timeout"         HTTP 504
    ├── S3Error                                  code "s3_error"  (the S3 gateway's refusals,
    │                                            each with its S3 code and status)
    ├── DatumFailedError                         code "datum_failed"    (user code failed)
    └── TransformInitError                       code "transform_init_failed" (a class
                                                 pipeline's __init__ or setup_job failed)

Every name ends in ``Error``; ``PathNotFoundError`` (a path in a commit) keeps clear of the
builtin ``FileNotFoundError``.

A datum whose code fails, or whose outputs cannot be stored, is a ``DatumFailedError`` that
keeps the cause; everything else is a failure of raypachy or of its input.
"""

from __future__ import annotations


class RaypachyError(Exception):
    """Root of every error raypachy raises on purpose."""

    code = "error"
    http_status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        # KeyError would otherwise repr() the message and wrap it in quotes.
        return self.message


# --- not found ---------------------------------------------------------------------


class NotFoundError(RaypachyError, KeyError):
    code = "not_found"
    http_status = 404


class RepoNotFoundError(NotFoundError):
    pass


class BranchNotFoundError(NotFoundError):
    pass


class CommitNotFoundError(NotFoundError):
    pass


class PathNotFoundError(NotFoundError):
    pass


class PipelineNotFoundError(NotFoundError):
    pass


class JobNotFoundError(NotFoundError):
    pass


class DatumNotFoundError(NotFoundError):
    pass


class TransactionNotFoundError(NotFoundError):
    """No such transaction: never started, finished already, or deleted."""


class SecretNotFoundError(NotFoundError):
    pass


class ProjectNotFoundError(NotFoundError):
    pass


# --- already exists ----------------------------------------------------------------


class AlreadyExistsError(RaypachyError):
    code = "already_exists"
    http_status = 409


class RepoExistsError(AlreadyExistsError):
    pass


class BranchExistsError(AlreadyExistsError):
    pass


class PipelineExistsError(AlreadyExistsError):
    pass


class SecretExistsError(AlreadyExistsError):
    pass


class ProjectExistsError(AlreadyExistsError):
    pass


# --- conflicts ---------------------------------------------------------------------


class ConflictError(RaypachyError):
    code = "conflict"
    http_status = 409


class CommitConflictError(ConflictError):
    """A branch was not where the caller expected it: another writer moved it first."""


class CommitFinishedError(ConflictError):
    """The commit is already finished; finished commits never change."""


class CommitOpenError(ConflictError):
    """The operation needs a finished commit (or a branch without an open commit)."""


class GCBusyError(ConflictError):
    """Garbage collection and writers exclude each other; one of them is running."""


class LeaseExpiredError(ConflictError):
    """A writer's lease is unknown or lapsed, so gc may have removed what it stored."""


class ProjectNotEmptyError(ConflictError):
    """A project to delete still holds repos or pipelines (``--force`` deletes them)."""


# --- invalid arguments -------------------------------------------------------------


class InvalidArgumentError(RaypachyError, ValueError):
    code = "invalid_argument"
    http_status = 400


class InvalidNameError(InvalidArgumentError):
    pass


class InvalidPathError(InvalidArgumentError):
    pass


class InvalidAddressError(InvalidArgumentError):
    pass


class InvalidGlobError(InvalidArgumentError):
    pass


class InvalidSpecError(InvalidArgumentError):
    pass


class IngestError(InvalidArgumentError):
    """A URL given to ``put file`` could not be listed or read (nothing was committed)."""


class TooManyDatumsError(InvalidSpecError):
    """An input tree would make more datums than allowed (counted before any is made)."""


class RangeNotSatisfiableError(InvalidArgumentError):
    """A byte range that starts at or after the end of the file."""

    code = "range_not_satisfiable"
    http_status = 416


# --- auth --------------------------------------------------------------------------


class UnauthenticatedError(RaypachyError):
    """No token, an unknown one, or one that expired or was revoked."""

    code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(RaypachyError):
    """The caller lacks the role the request needs (the message names it)."""

    code = "forbidden"
    http_status = 403


# --- limits ------------------------------------------------------------------------


class TooManyRequestsError(RaypachyError):
    """A client holds too many long requests (waits) at once."""

    code = "too_many_requests"
    http_status = 429


class PayloadTooLargeError(RaypachyError):
    """A request body is larger than the server accepts."""

    code = "payload_too_large"
    http_status = 413


# --- storage -----------------------------------------------------------------------


class StorageError(RaypachyError):
    code = "storage_error"
    http_status = 500


class ChunkCorruptedError(StorageError):
    """Bytes read back from storage do not hash to the id they are stored under."""

    code = "chunk_corrupted"


class ObjectMissingError(StorageError):
    """A chunk or manifest that something references is not on storage."""

    code = "object_missing"


class BackendError(StorageError):
    """The storage backend itself failed (disk full, permission, network, S3 error)."""

    code = "backend_error"


class UnavailableError(RaypachyError):
    code = "unavailable"
    http_status = 503


class WaitTimeoutError(RaypachyError, TimeoutError):
    """Waiting for a commit or job took longer than the caller allowed."""

    code = "timeout"
    http_status = 504


class S3Error(RaypachyError):
    """A request the S3 gateway refuses with an S3 error code (``s3_code``) and status."""

    code = "s3_error"
    http_status = 400

    def __init__(self, s3_code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.s3_code = s3_code
        self.http_status = status


# --- user code ---------------------------------------------------------------------


class DatumFailedError(RaypachyError):
    """A user's transform failed on a datum; ``cause`` keeps what it raised or exited with."""

    code = "datum_failed"
    http_status = 500

    def __init__(self, message: str, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class TransformInitError(RaypachyError):
    """A class pipeline's ``__init__`` (or ``setup_job``) raised: no datum can run, so the
    job fails; ``traceback`` is what the user's code printed on the way out."""

    code = "transform_init_failed"
    http_status = 500

    def __init__(self, message: str, traceback: str = "") -> None:
        super().__init__(message)
        self.traceback = traceback
