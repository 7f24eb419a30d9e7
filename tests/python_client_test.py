#!/usr/bin/python3
"""The Python client (clients/python, nas_client) against the real service.

Starts an embedded PostgreSQL, nas-controller and two nas-trainer workers, and drives them
through nas_client only: submit from keywords, a dict and a text-proto file; watch with typed
events; the Pareto front as records, as a DataFrame and as a plot; fetch with the sha256
checked; load the TorchScript model and run it; errors as exceptions with their code and field;
a finished search extended, a cancelled one resumed, a new one warm-started from an earlier
one's front without training it again; the recipe warning; and docs/examples/python_search.py
end to end. Each check is a JUnit test case (in $XML_OUTPUT_FILE, read by tests/run.sh).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import traceback

ROOT = os.getcwd()  # the runfiles tree
sys.path.insert(0, os.path.join(ROOT, "clients/python"))

sys.path.insert(0, os.path.join(ROOT, "tests"))

import nas_client  # noqa: E402
from junit_cases import Cases  # noqa: E402
from nas_client import plot  # noqa: E402
from service_stack import Stack, free_port, wait_for  # noqa: E402

CONTROLLER = os.path.join(ROOT, "services/nas-controller")
TRAINER = os.path.join(ROOT, "trainer/nas-trainer")
EMBEDDED_PG = os.path.join(ROOT, "deploy/embedded_postgres.sh")
EXAMPLE = os.path.join(ROOT, "docs/examples/python_search.py")

# A small space and a short recipe: each candidate trains in seconds on one thread.
SPACE = {"name": "mobilenetv2", "kernels": [3], "expansions": [3], "maxDepth": 1,
         "resolutions": [28], "widthMultipliersPercent": [50, 75, 100]}
QUICK = dict(epochs=1, batch_size=64, train_subset=512)


def expect_error(cls, fn, field=None, text=None):
    try:
        fn()
    except cls as e:
        if field is not None:
            assert e.field == field, f"field {e.field!r}, expected {field!r}: {e}"
        if text is not None:
            assert text in e.details, f"{text!r} not in {e.details!r}"
        return e
    raise AssertionError(f"expected {cls.__name__}")


def main():
    cases = Cases("python_client_test")
    check = cases.check

    tmp = tempfile.mkdtemp(prefix="nas-python-client-", dir="/tmp")
    os.chmod(tmp, 0o755)  # as root, PostgreSQL runs as user postgres and must reach its dir
    stack = Stack(tmp, EMBEDDED_PG, PYTHONPATH=os.path.join(ROOT, "clients/python"))
    try:
        stack.pg_dir = os.path.join(tmp, "postgres")
        url = subprocess.run([EMBEDDED_PG, "start", stack.pg_dir], env=stack.env, cwd="/",
                             capture_output=True, text=True, check=True).stdout.strip()
        port = free_port()
        stack.start("controller", [
            CONTROLLER, f"--listen=127.0.0.1:{port}", f"--database_url={url}",
            f"--worker_token_file={tmp}/worker.token", f"--admin_token_file={tmp}/admin.token"])
        wait_for("the controller's tokens", lambda: os.path.getsize(f"{tmp}/admin.token") > 0, 60)
        token = open(f"{tmp}/admin.token").read().strip()
        stack.env.update(NAS_SERVER=f"127.0.0.1:{port}", NAS_TOKEN=token)
        os.environ.update(NAS_SERVER=f"127.0.0.1:{port}", NAS_TOKEN=token)
        client = nas_client.Client()  # from the environment, like a notebook would
        wait_for("the controller", lambda: client.profiles(), 60)

        # Before any worker registers, a search is accepted with a warning that says so.
        early = client.submit(name="before-workers", space=SPACE, profiles=["host-cpu"],
                              candidates=1, **QUICK)
        check("before any worker, the search is accepted with a warning",
              lambda: _assert(any("no worker has registered" in w for w in early.warnings),
                              early.warnings))
        client.cancel(early.id)

        for i in range(2):
            stack.start(f"trainer-{i}", [
                TRAINER, f"--controller=127.0.0.1:{port}",
                f"--worker_token_file={tmp}/worker.token", "--device_tag=host-cpu",
                "--threads=1"])
        wait_for("two workers", lambda: "worker_registered" in stack.log("controller") and
                 stack.log("controller").count("event=worker_registered") >= 2, 60)

        # ---- submit, watch ----------------------------------------------------------------
        first = client.submit(name="python", space=SPACE, strategy="evolution", seed=5,
                              strategy_settings={"population": 2},
                              profiles=["host-cpu", "cortex-m7"],
                              objectives=["accuracy", "latency"], candidates=4, parallel=2,
                              **QUICK)

        def submit_answer():
            assert isinstance(first, nas_client.Search) and first.id > 0, first
            assert first.state == "RUNNING" and first.target == 4, first
            assert first.raw.spec.recipe.batch_size == 64, first.raw.spec.recipe
            # 1 epoch of 512 examples in batches of 64: 8 steps, too few to learn.
            assert any("8 optimizer steps" in w for w in first.warnings), first.warnings
        check("submit from keywords answers a typed Search with the recipe warning",
              submit_answer)

        events = list(client.watch(first.id, progress=True))

        def watch_events():
            kinds = [e.kind for e in events]
            assert kinds[0] == "SNAPSHOT" and kinds[-1] == "SEARCH_ENDED", kinds
            assert kinds.count("CANDIDATE_EVALUATED") == 4, kinds
            assert all(isinstance(e, nas_client.Event) for e in events)
            ids = [e.id for e in events[1:]]
            assert ids == sorted(ids) and len(set(ids)) == len(ids), ids
            assert events[-1].search.state == "SUCCEEDED", events[-1]
            assert events[-1].search.evaluated == 4, events[-1]
        check("watch yields typed events, snapshot first, until the search ends", watch_events)

        def both_workers_show():
            # Two workers trained two candidates at a time: some event says so.
            running = [e.search.running for e in events]
            assert max(running) == 2, running
        check("watch shows both workers' candidates running", both_workers_show)

        # ---- results ------------------------------------------------------------------------
        records = client.pareto(first.id, "host-cpu")

        def pareto_records():
            assert records, records
            assert {r["profile"] for r in records} == {"host-cpu@1"}, records
            accuracies = [r["accuracy"] for r in records]
            assert accuracies == sorted(accuracies, reverse=True), accuracies
            for r in records:
                assert r["latency_source"] == "MEASURED" and r["latency_ms"] > 0, r
                # Measured until its median is known within +-5%, or said to be noise.
                assert r["latency_ci_ms"] > 0, r
                assert r["latency_unsettled"] == (r["latency_ci_ms"] > 0.05 * r["latency_ms"]), r
                assert r["params"] > 0 and 0 < r["val_accuracy"] <= 1, r
            both = client.pareto(first.id)
            assert {r["profile"] for r in both} == {"host-cpu@1", "cortex-m7@1"}, both
            frame = client.pareto_frame(first.id, "host-cpu")
            assert list(frame["candidate_id"]) == [r["candidate_id"] for r in records], frame
            assert "latency_ms" in frame.columns, frame.columns
        check("pareto as records and as a pandas DataFrame", pareto_records)

        def plot_file():
            png = os.path.join(tmp, "front.png")
            fig = client.plot_pareto(first.id, path=png)
            assert os.path.getsize(png) > 10_000, os.path.getsize(png)
            axes = fig.axes
            assert len(axes) == 2 and all(ax.get_xscale() == "log" for ax in axes), axes
            # Labels of points that nearly coincide do not cover each other.
            offsets = plot.place_labels([(100, 100, "101"), (101, 100, "102"), (102, 101, "103")])
            boxes = [(100 + dx, 100 + dy, 100 + dx + 18, 100 + dy + 10) for dx, dy in offsets]
            for i, a in enumerate(boxes):
                for b in boxes[i + 1:]:
                    assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), \
                        (offsets, boxes)
        check("plot_pareto draws every profile on log latency axes, labels apart", plot_file)

        best = records[0]["candidate_id"]

        def fetch_and_load():
            path = client.fetch(best, format="torchscript", path=tmp)
            assert path.exists() and path.stat().st_size > 1000, path
            meta = open(str(path) + ".json").read()
            assert f'"candidate_id": "{best}"' in meta, meta[:300]
            onnx = client.fetch(best, format="onnx-fp32", path=os.path.join(tmp, "m.onnx"))
            # An ONNX ModelProto starts with its ir_version (field 1, a varint).
            assert onnx.name == "m.onnx" and onnx.read_bytes()[:1] == b"\x08", onnx
            import torch
            model = client.load_model(best)
            out = model(torch.rand(3, 1, 28, 28))
            assert tuple(out.shape) == (3, 10), out.shape
            model2 = client.load_model(path)
            assert torch.allclose(model2(torch.zeros(1, 1, 28, 28)),
                                  model(torch.zeros(1, 1, 28, 28))), "the two loads differ"
        check("fetch writes the model and its metadata; load_model runs it", fetch_and_load)

        def checksum_checked():
            meta = client.candidate(best)
            from nas_client.proto import nas_pb2
            m = nas_pb2.ModelMetadata(candidate_id=meta.id, sha256="0" * 64, size_bytes=3)
            expect_error(nas_client.ChecksumMismatch,
                         lambda: nas_client.client.check_download(m, "1" * 64, 3))
            before = set(os.listdir(tmp))
            # A real download whose stored digest we alter on the way: nothing is left behind.
            original = nas_client.client.check_download
            nas_client.client.check_download = lambda md, digest, size: original(
                md, digest[::-1], size)
            try:
                expect_error(nas_client.ChecksumMismatch,
                             lambda: client.fetch(best, format="torchscript",
                                                  path=os.path.join(tmp, "bad.pt")))
            finally:
                nas_client.client.check_download = original
            after = set(os.listdir(tmp))
            assert after == before, after - before
        check("a download whose sha256 does not match raises and writes nothing",
              checksum_checked)

        # ---- errors -------------------------------------------------------------------------
        def errors_keep_code_and_field():
            e = expect_error(nas_client.InvalidArgument,
                             lambda: client.submit(space=SPACE, profiles=["host-cpu"],
                                                   candidates=0),
                             field="spec.budget.max_candidates")
            assert e.code.name == "INVALID_ARGUMENT", e.code
            e = expect_error(nas_client.InvalidArgument,
                             lambda: client.submit(space=SPACE, profiles=["no-such-board"],
                                                   candidates=2),
                             field="spec.profile_ids[0]")
            for known in ("host-cpu@1", "cortex-m7@1", "rpi4-cortex-a72@1"):
                assert known in e.details, e.details  # the profiles there are
            expect_error(nas_client.NotFound, lambda: client.search(999999))
            expect_error(nas_client.FailedPrecondition, lambda: client.cancel(first.id),
                         text="already ended")
            try:
                client.submit(space=SPACE, epoch=3)
                raise AssertionError("a mistyped keyword was accepted")
            except TypeError as t:
                assert "did you mean 'epochs'" in str(t), t
            bad = nas_client.Client(token="not-a-token")
            expect_error(nas_client.Unauthenticated, lambda: bad.searches())
        check("errors are exceptions with the gRPC code and the field path",
              errors_keep_code_and_field)

        def spec_from_dict_and_file():
            spec = {"displayName": "from-dict", "space": SPACE, "profileIds": ["host-cpu"],
                    "budget": {"maxCandidates": 1}, "recipe": {"epochs": 1}}
            s = client.build_spec(spec, candidates=2, batch_size=32)
            assert s.display_name == "from-dict" and s.budget.max_candidates == 2, s
            assert s.recipe.batch_size == 32 and s.recipe.epochs == 1, s
            path = os.path.join(tmp, "spec.textproto")
            with open(path, "w") as f:
                f.write('display_name: "from-file" space { name: "mobilenetv2" } '
                        'profile_ids: "host-cpu" budget { max_candidates: 3 }\n')
            s = client.build_spec(path, epochs=2)
            assert s.display_name == "from-file" and s.recipe.epochs == 2, s
            s = client.build_spec(path, schedule="one_cycle", warmup_fraction=0.3,
                                  precision="bf16")
            assert s.recipe.schedule == nas_client.proto.nas_pb2.LR_SCHEDULE_ONE_CYCLE, s
            assert s.recipe.warmup_fraction == 0.3, s
            assert s.recipe.precision == nas_client.proto.nas_pb2.PRECISION_BF16, s
            try:
                client.build_spec(path, precision="fp16")
                raise AssertionError("precision fp16 was accepted")
            except ValueError as v:
                assert "'auto', 'fp32' or 'bf16'" in str(v), v
            with open(path, "w") as f:
                f.write("display_name: 3 nonsense {\n")
            expect_error(nas_client.InvalidArgument, lambda: client.build_spec(path),
                         field="spec")
        check("a spec from a dict or a text-proto file, keywords over it",
              spec_from_dict_and_file)

        # ---- extend, resume, warm start ------------------------------------------------------
        def extend_a_finished_search():
            s = client.extend(first.id, candidates=2)
            assert s.state == "RUNNING" and s.target == 6, s
            done = client.wait(first.id)
            assert done.state == "SUCCEEDED" and done.evaluated == 6, done
            expect_error(nas_client.FailedPrecondition, lambda: client.resume(first.id),
                         text="budget")
            expect_error(nas_client.InvalidArgument,
                         lambda: client.extend(first.id, candidates=-1), field="add_candidates")
        check("extend raises a finished search's budget and it runs on",
              extend_a_finished_search)

        def cancel_and_resume():
            long = client.submit(name="long", space=SPACE, profiles=["host-cpu"],
                                 candidates=50, parallel=2, **QUICK)
            wait_for("a result", lambda: client.search(long.id).evaluated >= 1, 120)
            cancelled = client.cancel(long.id)
            assert cancelled.state == "CANCELLED", cancelled
            resumed = client.resume(long.id)
            assert resumed.state == "RUNNING", resumed
            assert resumed.queued + resumed.running >= 1, resumed
            n = resumed.evaluated
            wait_for("a result after resuming", lambda: client.search(long.id).evaluated > n, 120)
            client.cancel(long.id)
        check("a cancelled search resumes where it stopped", cancel_and_resume)

        def warm_start():
            front = {r["candidate_id"] for r in client.pareto(first.id)}
            seeded = client.submit(name="warm", space=SPACE, profiles=["host-cpu", "cortex-m7"],
                                   candidates=len(front) + 1, parallel=2, warm_start=first.id,
                                   **QUICK)
            assert seeded.raw.spec.warm_start.seeds == "front", seeded.raw.spec.warm_start
            # The seeds were trained alike: their results are there at once, not trained again.
            assert seeded.evaluated == len(front), (seeded, front)
            done = client.wait(seeded.id)
            assert done.evaluated == len(front) + 1, done
            reused = [c for c in client.candidates(seeded.id) if c["state"] == "EVALUATED"]
            assert len(reused) == len(front) + 1, reused
            log = stack.log("controller")
            trained = len(re.findall(rf"event=result_stored search={seeded.id} ", log))
            assert trained == 1, f"{trained} results reported for the warm-started search"
            expect_error(nas_client.InvalidArgument,
                         lambda: client.submit(space=SPACE, profiles=["host-cpu"], candidates=2,
                                               warm_start=999999),
                         field="spec.warm_start.search_id")
        check("a warm start seeds a search with an earlier front, trained alike: reused",
              warm_start)

        def example_runs():
            r = subprocess.run([sys.executable, EXAMPLE, "--candidates=2", "--epochs=1",
                                "--train_subset=512", f"--out={tmp}/example"],
                               env=stack.env, capture_output=True, text=True, timeout=600)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
            assert "Pareto front" in r.stdout, r.stdout
            assert any(n.endswith(".onnx") for n in os.listdir(f"{tmp}/example")), \
                os.listdir(f"{tmp}/example")
        check("docs/examples/python_search.py runs a search end to end", example_runs)

        def pip_installs_offline():
            # pip builds the package from a copy of the repository's files, offline and
            # without build isolation, and the installed client imports and connects.
            src = os.path.join(tmp, "src")
            shutil.copytree(os.path.join(ROOT, "clients/python"), f"{src}/clients/python",
                            ignore=shutil.ignore_patterns("proto", "__pycache__"))
            shutil.copytree(os.path.join(ROOT, "proto"), f"{src}/proto",
                            ignore=shutil.ignore_patterns("*.h", "*.cc", "*.a", "*.so", "_*"))
            r = subprocess.run(["/usr/bin/python3", "-m", "pip", "install", "--no-deps",
                                "--no-build-isolation", "--no-index", "--target",
                                f"{tmp}/site", f"{src}/clients/python"],
                               capture_output=True, text=True, timeout=300,
                               env=dict(stack.env, PIP_NO_INPUT="1"))
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
            assert os.path.exists(f"{tmp}/site/nas_client/proto/nas_service_pb2_grpc.py")
            probe = ("import nas_client; c = nas_client.Client(); "
                     "print(nas_client.__file__, len(c.profiles()))")
            r = subprocess.run(["/usr/bin/python3", "-c", probe], capture_output=True, text=True,
                               env=dict(stack.env, PYTHONPATH=f"{tmp}/site"), cwd=tmp,
                               timeout=60)
            assert r.returncode == 0, r.stderr
            assert r.stdout.startswith(f"{tmp}/site/nas_client/"), r.stdout
        check("pip installs the client offline from the repository", pip_installs_offline)

        def help_explains_each_call():
            import pydoc
            text = pydoc.render_doc(nas_client.Client, renderer=pydoc.plaintext)
            for call in ("submit", "searches", "watch", "pareto", "pareto_frame", "plot_pareto",
                         "fetch", "load_model", "cancel", "extend", "resume"):
                doc = getattr(nas_client.Client, call).__doc__ or ""
                assert len(doc) > 40 and call in text, call
        check("help(Client) explains each call", help_explains_each_call)
    except Exception:
        cases.fail("setting up the service", traceback.format_exc())
        for name, _ in stack.procs:
            print(f"--- {name} log (tail) ---\n{stack.log(name)[-3000:]}", flush=True)
    finally:
        stack.stop()
        if not cases.failed:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", flush=True)

    return cases.finish()


def _assert(cond, what):
    assert cond, what


if __name__ == "__main__":
    sys.exit(main())
