"""nas_client: the Python client of the NAS service.

    from nas_client import Client
    client = Client("127.0.0.1:50051", token)   # or $NAS_SERVER and $NAS_TOKEN
    search = client.submit(space="mobilenetv2", profiles=["host-cpu"], candidates=8, epochs=2)
    for event in client.watch(search.id):
        print(event.kind, event.message)
    print(client.pareto_frame(search.id, "host-cpu"))

help(nas_client.Client) explains each call; errors are nas_client.NasError subclasses.
"""
from nas_client.client import Client, Event, Search, controller_target
from nas_client.errors import (AlreadyExists, ChecksumMismatch, DeadlineExceeded,
                               FailedPrecondition, Internal, InvalidArgument, NasError,
                               NotFound, PermissionDenied, ResourceExhausted, Unauthenticated,
                               Unavailable)

__all__ = [
    "Client", "Event", "Search", "controller_target", "NasError", "InvalidArgument", "NotFound",
    "AlreadyExists", "FailedPrecondition", "PermissionDenied", "Unauthenticated",
    "ResourceExhausted", "Unavailable", "DeadlineExceeded", "Internal", "ChecksumMismatch",
]
__version__ = "0.1.0"
