#!/usr/bin/python3
"""A search from Python, end to end: submit, watch, read the front, fetch the models.

    export NAS_SERVER=127.0.0.1:50051 NAS_TOKEN=$(cat .nas-state/admin.token)
    .venv/bin/python docs/examples/python_search.py --candidates=8

(with the client installed in .venv as docs/python.md says; deploy/quickstart.sh with
NAS_KEEP_RUNNING=1 leaves a controller and workers running.) tests/python_client_test.py
runs this script against a real controller and workers.
"""
import argparse
import os

import nas_client


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train_subset", type=int, default=10000)
    parser.add_argument("--profiles", default="host-cpu,cortex-m7")
    parser.add_argument("--out", default="models", help="where the front's models go")
    args = parser.parse_args()

    client = nas_client.Client()  # NAS_SERVER, NAS_TOKEN
    search = client.submit(
        name="python-example",
        space={"name": "mobilenetv2", "kernels": [3, 5], "expansions": [3, 6], "maxDepth": 2,
               "resolutions": [28], "widthMultipliersPercent": [50, 75, 100]},
        strategy="evolution", strategy_settings={"population": 4},
        profiles=args.profiles.split(","), objectives=["accuracy", "latency"],
        candidates=args.candidates, parallel=2,
        epochs=args.epochs, batch_size=64, train_subset=args.train_subset)
    print(f"search {search.id} submitted")
    for warning in search.warnings:
        print(f"warning: {warning}")

    # Typed events; a progress bar on stderr when tqdm is installed.
    for event in client.watch(search.id):
        if event.kind in ("CANDIDATE_EVALUATED", "SEARCH_ENDED"):
            print(event.message)

    os.makedirs(args.out, exist_ok=True)
    for profile in client.search(search.id).profiles:
        front = client.pareto(search.id, profile)
        print(f"\nPareto front on {profile}: {len(front)} models")
        for r in front:
            print(f"  candidate {r['candidate_id']}: accuracy {r['accuracy']:.4f}, "
                  f"{r['latency_ms']:.3f} ms ({r['latency_source'].lower()}), "
                  f"{r['model_bytes']} bytes")
        # The most accurate member, as the file a device runs (int8 on an int8 profile).
        path = client.fetch(front[0]["candidate_id"], profile=profile,
                            path=os.path.join(args.out, f"{profile}.onnx"))
        print(f"  fetched {path} (sha256 checked)")


if __name__ == "__main__":
    main()
