"""The Python client of the NAS service: submit searches, watch them, read their Pareto fronts,
fetch the models.

    from nas_client import Client
    client = Client()                      # $NAS_SERVER and $NAS_TOKEN
    search = client.submit(space="mobilenetv2", profiles=["host-cpu", "cortex-m7"],
                           candidates=20, epochs=3)
    for event in client.watch(search.id):  # a progress bar on stderr (tqdm), typed events
        pass
    front = client.pareto_frame(search.id, "cortex-m7")
    path = client.fetch(front.candidate_id[0], format="onnx-int8", path="model.onnx")

help(Client) explains each call.
"""
import hashlib
import os
import pathlib
import socket
import tempfile
import time

import grpc
from google.protobuf import json_format

from nas_client import errors
from nas_client.progress import progress_bar
from nas_client.proto import nas_pb2, nas_service_pb2, nas_service_pb2_grpc
from nas_client.records import Event, Search, candidate_record, member_record, strip_prefix
from nas_client.spec import build_spec

DEFAULT_SERVER = "127.0.0.1:50051"

_STATES = {
    "queued": nas_pb2.CANDIDATE_STATE_QUEUED,
    "leased": nas_pb2.CANDIDATE_STATE_LEASED,
    "evaluated": nas_pb2.CANDIDATE_STATE_EVALUATED,
    "failed": nas_pb2.CANDIDATE_STATE_FAILED,
    "cancelled": nas_pb2.CANDIDATE_STATE_CANCELLED,
}


def controller_target(addresses):
    """The gRPC target for one controller or several replicas, as nasctl and nas-trainer read
    them: "host:port", "dns:///name:port" (every address the name resolves to), or a
    comma-separated list "a:port,b:port" (names resolved once, here, to an IPv4 address).
    ValueError names an entry without a port."""
    addresses = addresses.strip()
    if "," not in addresses:
        return addresses
    resolved = []
    for entry in (a.strip() for a in addresses.split(",")):
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"controller address {entry!r}: expected HOST:PORT")
        if host.startswith("["):
            raise ValueError(f"controller address {entry!r}: an IPv6 address in a list; use a "
                             "dns:/// name")
        try:
            ip = socket.gethostbyname(host)
        except OSError as e:
            raise ValueError(f"controller address {entry!r}: {host} does not resolve ({e})")
        resolved.append(f"{ip}:{port}")
    return "ipv4:" + ",".join(resolved)


class Client:
    """A connection to the NAS service (one controller, or several replicas of it).

    Client(address=None, token=None, *, tls_ca_file=None, timeout=30.0)

      address: "host:port", "dns:///name:port" or "a:port,b:port" (replicas); default
               $NAS_SERVER, else 127.0.0.1:50051.
      token:   the bearer token; default $NAS_TOKEN, else the file named by $NAS_TOKEN_FILE.
      tls_ca_file: a PEM CA certificate to connect with TLS (default $NAS_TLS_CA_FILE).
      timeout: seconds each unary call may take.

    Failed calls raise nas_client.NasError subclasses (InvalidArgument, NotFound,
    FailedPrecondition, ...) that keep the gRPC code and the offending field. Calls that
    change nothing are retried for a few seconds when no controller answers.
    """

    def __init__(self, address=None, token=None, *, tls_ca_file=None, timeout=30.0):
        self.address = address or os.environ.get("NAS_SERVER") or DEFAULT_SERVER
        if token is None:
            token = os.environ.get("NAS_TOKEN")
        if token is None and os.environ.get("NAS_TOKEN_FILE"):
            with open(os.environ["NAS_TOKEN_FILE"]) as f:
                token = f.read().strip()
        self._token = token
        self.timeout = timeout
        target = controller_target(self.address)
        options = [("grpc.lb_policy_name", "round_robin"),
                   ("grpc.max_receive_message_length", 64 << 20)]
        tls_ca_file = tls_ca_file or os.environ.get("NAS_TLS_CA_FILE")
        if tls_ca_file:
            with open(tls_ca_file, "rb") as f:
                creds = grpc.ssl_channel_credentials(root_certificates=f.read())
            self._channel = grpc.secure_channel(target, creds, options=options)
        else:
            self._channel = grpc.insecure_channel(target, options=options)
        self._nas = nas_service_pb2_grpc.NasServiceStub(self._channel)

    def close(self):
        """Closes the connection."""
        self._channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        return f"Client({self.address!r})"

    # ---- calls --------------------------------------------------------------------------

    def _metadata(self):
        if not self._token:
            raise errors.Unauthenticated("no token: pass Client(token=...) or set NAS_TOKEN",
                                         field=None)
        return [("authorization", f"Bearer {self._token}")]

    def _unary(self, method, request, retry=True):
        """Calls NasService.`method`; retries UNAVAILABLE for ~10 s when `retry`."""
        delay, deadline = 0.2, time.monotonic() + 10
        while True:
            try:
                return getattr(self._nas, method)(request, metadata=self._metadata(),
                                                  timeout=self.timeout)
            except grpc.RpcError as e:
                if retry and e.code() == grpc.StatusCode.UNAVAILABLE and \
                        time.monotonic() + delay < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                raise errors.from_rpc_error(e) from None

    # ---- searches -----------------------------------------------------------------------

    def build_spec(self, spec=None, **keywords):
        """The nas.v1.SearchSpec that submit() would send, without sending it. See submit()."""
        return build_spec(spec, keywords)

    def submit(self, spec=None, **keywords):
        """Starts a search and returns it (a Search; its `warnings` say what may go wrong).

        spec: a dict (the SearchSpec's JSON form), a nas.v1.SearchSpec, or the path of a .json
        or text-proto file. Keywords set fields over it:
          name, dataset, space (a preset name, or a dict of the SearchSpace), strategy, seed,
          strategy_settings (dict), profiles (list), objectives (list of metric names:
          accuracy, latency, peak_activation_bytes, model_bytes, params, macs,
          int8_model_bytes), constraints (dict metric -> bound, e.g. {"accuracy_drop": 1}),
          candidates, parallel, max_attempts, wall_seconds,
          epochs, batch_size, optimizer ("sgd", "adamw"), learning_rate, schedule
          ("cosine", "step", "one_cycle", "cosine_warmup"), warmup_fraction, precision
          ("auto", "fp32", "bf16"), weight_decay, label_smoothing, augment (["crop", "flip"]),
          train_subset, validation_fraction, validation_examples, qat_epochs,
          rungs, eta, finalists, final_epochs, reference (a preset, e.g. "resnet18"),
          warm_start (an earlier search id), warm_start_seeds ("front" or "all").
        Raises InvalidArgument naming the field when the spec is wrong (nothing is stored).
        """
        request = nas_service_pb2.SubmitSearchRequest(spec=self.build_spec(spec, **keywords))
        # Not retried: a submission the controller stored but could not answer would repeat.
        return Search.from_proto(self._unary("SubmitSearch", request, retry=False))

    def search(self, search_id):
        """One of your searches (a Search)."""
        return Search.from_proto(
            self._unary("GetSearch", nas_service_pb2.GetSearchRequest(search_id=search_id)))

    def searches(self, limit=50):
        """Your searches, newest first (a list of Search)."""
        out, before = [], 0
        while len(out) < limit:
            page = self._unary("ListSearches", nas_service_pb2.ListSearchesRequest(
                limit=min(1000, limit - len(out)), before_id=before)).searches
            out += [Search.from_proto(s) for s in page]
            if not page:
                break
            before = page[-1].id
        return out

    def cancel(self, search_id):
        """Stops a running search (queued candidates cancelled, leases revoked); returns it.
        FailedPrecondition if it already ended."""
        return Search.from_proto(self._unary(
            "CancelSearch", nas_service_pb2.CancelSearchRequest(search_id=search_id),
            retry=False))

    def extend(self, search_id, candidates=0, wall_seconds=0):
        """Raises a search's budget by `candidates` (and its wall clock by `wall_seconds`, if it
        has one); an ended search runs on where it stopped, its strategy keeping what it
        learned. Returns the search. FailedPrecondition when nothing would run, or when final
        training has begun (submit(warm_start=search_id) goes on from its candidates)."""
        return Search.from_proto(self._unary("ExtendSearch", nas_service_pb2.ExtendSearchRequest(
            search_id=search_id, add_candidates=candidates, add_wall_seconds=wall_seconds),
            retry=False))

    def resume(self, search_id):
        """Runs a cancelled search on with the budget it has: its cancelled candidates are
        queued again. Returns the search."""
        return self.extend(search_id)

    def watch(self, search_id, progress=True, after_event_id=0):
        """Yields the search's events (Event) until it ends: a SNAPSHOT first, then one per
        change. With `progress` (and tqdm installed) a progress bar on stderr shows evaluated
        candidates, running ones and the best accuracy. A dropped stream (a controller
        restarting) is resumed after the last event seen, without gaps or repeats."""
        bar = progress_bar(progress)
        last, quiet_since = after_event_id, time.monotonic()
        try:
            while True:
                request = nas_service_pb2.WatchSearchRequest(search_id=search_id,
                                                             after_event_id=last)
                try:
                    for raw in self._nas.WatchSearch(request, metadata=self._metadata()):
                        event = Event.from_proto(raw)
                        # A snapshot has no id: a stream dropped before any other event
                        # starts again with a new snapshot.
                        last = max(last, event.id)
                        quiet_since = time.monotonic()
                        if bar is not None:
                            bar.show(event.search)
                        yield event
                        if event.kind == "SEARCH_ENDED":
                            return
                    # The stream ended without SEARCH_ENDED: the snapshot of a search that had
                    # already ended, or a controller shutting down.
                    if self.search(search_id).done:
                        return
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.UNAVAILABLE or \
                            time.monotonic() - quiet_since > 120:
                        raise errors.from_rpc_error(e) from None
                time.sleep(0.5)
        finally:
            if bar is not None:
                bar.close()

    def wait(self, search_id, progress=False):
        """Blocks until the search ends; returns it (a Search)."""
        for _ in self.watch(search_id, progress=progress):
            pass
        return self.search(search_id)

    # ---- results ------------------------------------------------------------------------

    def front(self, search_id, profile):
        """The nas.v1.ParetoFront of a search on one of its profiles ("name" or
        "name@version")."""
        return self._unary("GetParetoFront", nas_service_pb2.GetParetoFrontRequest(
            search_id=search_id, profile_id=profile))

    def pareto(self, search_id, profile=None):
        """The Pareto front as a list of records (dicts), most accurate first: profile,
        candidate_id, accuracy (the one the profile ranks by; accuracy_kind fp32 or int8),
        val_accuracy, test_accuracy, latency_ms, latency_source (MEASURED, PREDICTED,
        MODELLED), latency_iqr_ms, latency_ci_ms (a measured latency's 95% half-width),
        latency_unsettled (that interval is wider than +-5%: its place is noise), model_bytes, peak_activation_bytes, params, macs,
        int8_model_bytes, is_reference, finalist_candidate_id. Without `profile`, the fronts
        of every profile of the search, one after another."""
        profiles = [profile] if profile else self.search(search_id).profiles
        records = []
        for p in profiles:
            f = self.front(search_id, p)
            records += [member_record(f.profile_id, m) for m in f.members]
        return records

    def pareto_frame(self, search_id, profile=None):
        """pareto() as a pandas DataFrame (needs pandas: Debian's python3-pandas)."""
        try:
            import pandas
        except ImportError:
            raise ImportError("pareto_frame() needs pandas (apt install python3-pandas); "
                              "pareto() gives the same records as dicts") from None
        return pandas.DataFrame(self.pareto(search_id, profile))

    def candidates(self, search_id, state=None, limit=10000):
        """A search's candidates as records (dicts), oldest first; `state` one of queued,
        leased, evaluated, failed, cancelled."""
        if state is not None and state.lower() not in _STATES:
            raise ValueError(f"state: {state!r} is not one of {', '.join(_STATES)}")
        out, after = [], 0
        while len(out) < limit:
            page = self._unary("ListCandidates", nas_service_pb2.ListCandidatesRequest(
                search_id=search_id, state=_STATES.get((state or "").lower(), 0),
                limit=min(1000, limit - len(out)), after_id=after)).candidates
            out += [candidate_record(c) for c in page]
            if not page:
                break
            after = page[-1].id
        return out

    def candidate(self, candidate_id):
        """One candidate, as the nas.v1.Candidate message."""
        return self._unary("GetCandidate",
                           nas_service_pb2.GetCandidateRequest(candidate_id=candidate_id))

    def profiles(self):
        """The hardware profiles you may use, as records (id, kind, device_tag, weight type,
        limits, description)."""
        response = self._unary("ListHardwareProfiles",
                               nas_service_pb2.ListHardwareProfilesRequest())
        return [{
            "id": p.id,
            "kind": strip_prefix(nas_pb2.ProfileKind.Name(p.kind), "PROFILE_KIND_"),
            "device_tag": p.device_tag,
            "weight_type": strip_prefix(nas_pb2.WeightType.Name(p.weight_type), "WEIGHT_TYPE_"),
            "max_latency_ms": p.limits.max_latency_ms,
            "max_model_bytes": p.limits.max_model_bytes,
            "max_peak_activation_bytes": p.limits.max_peak_activation_bytes,
            "description": p.description,
        } for p in response.profiles]

    def plot_pareto(self, search_id, profile=None, path=None):
        """Draws accuracy against latency for each profile's front (and every evaluated
        candidate, grey), latency on a logarithmic axis whatever its source, labels kept
        apart. Returns the matplotlib Figure; saves it to `path` (.png, .svg, .pdf) if
        given. Needs matplotlib (Debian's python3-matplotlib)."""
        from nas_client import plot
        search = self.search(search_id)
        profiles = [profile] if profile else search.profiles
        fronts = [self.front(search_id, p) for p in profiles]
        everyone = [self.candidate(r["candidate_id"]) for r in
                    self.candidates(search_id, state="evaluated")] if search.evaluated <= 2000 \
            else []
        return plot.pareto_figure(search, fronts, everyone, path)

    # ---- models -------------------------------------------------------------------------

    def fetch(self, candidate_id, format=None, path=None, profile=None):
        """Downloads a candidate's model and returns its path (a pathlib.Path); its metadata
        (input contract, metrics, classes) goes beside it as PATH.json.

        format: "torchscript", "onnx-fp32" or "onnx-int8"; default the natural one for
        `profile` (int8 on an int8 profile), else torchscript. path: a file, or a directory
        (the model's suggested name inside); default the suggested name here. The file's
        sha256 is checked against the service's before it is put in place: ChecksumMismatch
        leaves nothing behind."""
        request = nas_service_pb2.FetchModelRequest(candidate_id=candidate_id,
                                                    format=format or "",
                                                    profile_id=profile or "")
        metadata, digest, size = None, hashlib.sha256(), 0
        tmp = None
        try:
            stream = self._nas.FetchModel(request, metadata=self._metadata(),
                                          timeout=max(self.timeout, 300))
            for message in stream:
                if message.HasField("metadata"):
                    metadata = message.metadata
                    target = _target_path(path, metadata.file_name)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = tempfile.NamedTemporaryFile(dir=target.parent, prefix=".nas-fetch-",
                                                      delete=False)
                    continue
                if tmp is None:
                    raise errors.Internal("the model stream sent data before its metadata")
                tmp.write(message.chunk)
                digest.update(message.chunk)
                size += len(message.chunk)
            if metadata is None:
                raise errors.Internal(f"candidate {candidate_id}: the model stream was empty")
            tmp.close()
            check_download(metadata, digest.hexdigest(), size)
            os.replace(tmp.name, target)
            tmp = None
        except grpc.RpcError as e:
            raise errors.from_rpc_error(e) from None
        finally:
            if tmp is not None:
                tmp.close()
                os.unlink(tmp.name)
        with open(str(target) + ".json", "w") as f:
            f.write(json_format.MessageToJson(metadata, preserving_proto_field_name=True))
        return target

    def load_model(self, candidate, profile=None):
        """A candidate's TorchScript model, loaded with torch (Debian's python3-torch) and in
        eval mode: `candidate` is a candidate id (fetched to a temporary directory) or the
        path of a fetched .pt file. It takes raw pixels in [0, 1], N x C x H x W."""
        try:
            import torch
        except ImportError:
            raise ImportError("load_model() needs torch (apt install python3-torch)") from None
        if isinstance(candidate, int):
            with tempfile.TemporaryDirectory(prefix="nas-model-") as d:
                path = self.fetch(candidate, format="torchscript", path=d, profile=profile)
                model = torch.jit.load(str(path), map_location="cpu")
        else:
            model = torch.jit.load(str(candidate), map_location="cpu")
        model.eval()
        return model


def check_download(metadata, sha256_hex, size):
    """Raises ChecksumMismatch unless the bytes received match the stored file."""
    if sha256_hex != metadata.sha256 or (metadata.size_bytes and size != metadata.size_bytes):
        raise errors.ChecksumMismatch(
            f"candidate {metadata.candidate_id}: received {size} bytes with sha256 "
            f"{sha256_hex}, expected {metadata.size_bytes} bytes with sha256 {metadata.sha256}")


def _target_path(path, suggested):
    if path is None:
        return pathlib.Path(suggested)
    p = pathlib.Path(path)
    return p / suggested if p.is_dir() else p
