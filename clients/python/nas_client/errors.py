"""Errors of the NAS service as Python exceptions.

Every failed call raises a subclass of NasError that keeps the gRPC status code and, when the
service names the offending field ("spec.budget.max_candidates: 0 is outside 1 to 1000000"),
that field's path:

    try:
        client.submit(space="mobilenetv2", candidates=0)
    except nas_client.InvalidArgument as e:
        print(e.field, e.code, e.details)   # spec.budget.max_candidates StatusCode.INVALID_ARGUMENT ...
"""
import re

import grpc

# "spec.profile_ids[1]: ..." or "add_candidates: ...": a field path, then the reason.
_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[\d+\])?)*): ")


class NasError(Exception):
    """A call to the NAS service failed.

    Attributes:
        code: the grpc.StatusCode of the answer.
        details: the service's message, as it said it.
        field: the request field the message names ("spec.recipe.epochs"), or None.
    """

    code = grpc.StatusCode.UNKNOWN

    def __init__(self, details, code=None, field=None):
        super().__init__(details)
        if code is not None:
            self.code = code
        self.details = details
        self.field = field

    def __str__(self):
        return f"{self.code.name}: {self.details}"


class InvalidArgument(NasError):
    """The request is malformed; `field` names what is wrong."""
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(NasError):
    """No such search, candidate or profile among the caller's."""
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(NasError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(NasError):
    """The request is well-formed but the state forbids it (a search already ended, no worker
    serves the dataset, a budget already spent)."""
    code = grpc.StatusCode.FAILED_PRECONDITION


class PermissionDenied(NasError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unauthenticated(NasError):
    """No token, or a wrong or revoked one (NAS_TOKEN)."""
    code = grpc.StatusCode.UNAUTHENTICATED


class ResourceExhausted(NasError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(NasError):
    """No controller answered (NAS_SERVER); calls that change nothing were retried first."""
    code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(NasError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Internal(NasError):
    code = grpc.StatusCode.INTERNAL


class ChecksumMismatch(NasError):
    """A fetched model file does not match the sha256 the service stored for it (nothing was
    written to the destination)."""
    code = grpc.StatusCode.DATA_LOSS


_BY_CODE = {cls.code: cls for cls in (
    InvalidArgument, NotFound, AlreadyExists, FailedPrecondition, PermissionDenied,
    Unauthenticated, ResourceExhausted, Unavailable, DeadlineExceeded, Internal)}


def field_of(details):
    """The field path a service message starts with, or None."""
    m = _FIELD.match(details or "")
    return m.group(1) if m else None


def from_rpc_error(error):
    """The NasError for a grpc.RpcError (keeping its code, details and field)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    cls = _BY_CODE.get(code, NasError)
    return cls(details or "", code=code, field=field_of(details))
