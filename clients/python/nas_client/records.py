"""What the client returns: a Search, an Event, and front members and candidates as records
(plain dicts, ready for pandas)."""
import dataclasses

from nas_client.proto import nas_pb2, nas_service_pb2


def strip_prefix(name, prefix):
    return name[len(prefix):] if name.startswith(prefix) else name


@dataclasses.dataclass
class Search:
    """A search as the service reports it. `raw` is the nas.v1.Search message."""
    id: int
    name: str
    state: str            # RUNNING, SUCCEEDED, FAILED or CANCELLED
    evaluated: int
    target: int
    failed: int
    running: int          # candidates a worker is training now
    queued: int
    best_accuracy: float
    message: str          # why it ended, when it did
    warnings: list        # what may go wrong with it as submitted
    profiles: list
    created_at: str
    raw: object = dataclasses.field(repr=False)

    @property
    def done(self):
        """Whether the search has ended."""
        return self.state != "RUNNING"

    @classmethod
    def from_proto(cls, s):
        p = s.progress
        return cls(id=s.id, name=s.spec.display_name,
                   state=strip_prefix(nas_pb2.SearchState.Name(s.state), "SEARCH_STATE_"),
                   evaluated=p.evaluated, target=p.target, failed=p.failed, running=p.leased,
                   queued=p.queued, best_accuracy=s.best_accuracy, message=s.message,
                   warnings=list(s.warnings), profiles=list(s.spec.profile_ids),
                   created_at=s.created_at, raw=s)


@dataclasses.dataclass
class Event:
    """One event of a watched search. `kind` is the SearchEventKind without its prefix:
    SNAPSHOT, CANDIDATE_QUEUED, CANDIDATE_LEASED, CANDIDATE_EVALUATED, CANDIDATE_FAILED,
    LEASE_EXPIRED, FRONT_CHANGED, SEARCH_ENDED, TRAINING_PROGRESS, CANDIDATE_MEASURED or
    SEARCH_EXTENDED. `search` is the search right after it."""
    id: int
    kind: str
    search: Search
    candidate_id: int
    profile_id: str
    message: str
    hypervolume: float
    created_at: str
    # FRONT_CHANGED: the hypervolume as a share of its reference box, in [0, 1].
    normalized_hypervolume: float = 0.0

    @classmethod
    def from_proto(cls, e):
        return cls(id=e.event_id,
                   kind=strip_prefix(nas_service_pb2.SearchEventKind.Name(e.kind),
                               "SEARCH_EVENT_KIND_"),
                   search=Search.from_proto(e.search), candidate_id=e.candidate_id,
                   profile_id=e.profile_id, message=e.message, hypervolume=e.hypervolume,
                   created_at=e.created_at, normalized_hypervolume=e.normalized_hypervolume)


def member_record(profile, m):
    pm, metrics = m.profile_metrics, m.metrics
    return {
        "profile": profile,
        "candidate_id": m.candidate_id,
        "accuracy": pm.accuracy or metrics.val_accuracy,
        "accuracy_kind": pm.accuracy_kind or "fp32",
        "val_accuracy": metrics.val_accuracy,
        "test_accuracy": metrics.test_accuracy,
        "latency_ms": pm.latency_ms,
        "latency_source": strip_prefix(nas_pb2.LatencySource.Name(pm.latency_source),
                                 "LATENCY_SOURCE_"),
        "latency_iqr_ms": metrics.latency_iqr_ms,
        # A measured latency's 95% half-width, and whether its place on the front is noise.
        "latency_ci_ms": pm.latency_ci_ms,
        "latency_unsettled": pm.latency_unsettled,
        "model_bytes": pm.model_bytes,
        "peak_activation_bytes": pm.peak_activation_bytes,
        "params": metrics.params,
        "macs": metrics.macs,
        "int8_model_bytes": metrics.int8_model_bytes,
        "is_reference": m.is_reference,
        "finalist_candidate_id": m.finalist.candidate_id or None,
    }


def candidate_record(c):
    rec = {
        "candidate_id": c.id,
        "search_id": c.search_id,
        "state": strip_prefix(nas_pb2.CandidateState.Name(c.state), "CANDIDATE_STATE_"),
        "rung": c.fidelity.rung,
        "val_accuracy": c.metrics.val_accuracy,
        "test_accuracy": c.metrics.test_accuracy,
        "params": c.metrics.params,
        "macs": c.metrics.macs,
        "train_seconds": c.metrics.train_seconds,
        "train_precision": c.metrics.train_precision or None,
        "resumed_epochs": c.metrics.resumed_epochs,
        "is_reference": c.is_reference,
        "has_model": c.has_artifact,
        "error": c.error,
    }
    for pm in c.profile_metrics:
        rec[f"latency_ms[{pm.profile_id}]"] = pm.latency_ms
        rec[f"feasible[{pm.profile_id}]"] = pm.feasible
    return rec
