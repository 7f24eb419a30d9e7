#!/usr/bin/python3
"""The controller benchmark's peer: Optuna's RDB storage on the same PostgreSQL.

W worker processes share one study (NSGA-II sampler, three objectives, as the controller's
searches have) and loop ask, then tell made-up objective values: no training, as the controller
benchmark's simulated workers. Prints results per second and the per-result cost over the
windows asked for, in the controller benchmark's table format.

  controller_peer_optuna.py --url=postgresql+psycopg2://nas@/optuna?host=DIR --workers=64 --trials=400
"""
import argparse
import multiprocessing
import random
import time

import optuna


def worker(url, name, seed, stop_at, counter, times, lock):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=name, storage=url,
                              sampler=optuna.samplers.NSGAIISampler(seed=seed))
    rng = random.Random(seed)
    while True:
        with lock:
            if counter.value >= stop_at:
                return
            counter.value += 1
        trial = study.ask()
        # An architecture's choices, as the controller's default space has them.
        size = 0
        for s in range(4):
            size += trial.suggest_categorical(f"width{s}", [16, 24, 32, 40, 48, 64, 80])
            size += trial.suggest_int(f"depth{s}", 1, 4)
            trial.suggest_categorical(f"kernel{s}", [3, 5, 7])
        noise = rng.random()
        study.tell(trial, [0.8 + 0.15 * noise, size * 0.01 + noise, size * 1000.0])
        with lock:
            times.append(time.time())


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--trials", type=int, default=400)
    p.add_argument("--windows", default="100,200,400")
    a = p.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = f"peer-{int(time.time())}"
    optuna.create_study(study_name=name, storage=a.url,
                        directions=["maximize", "minimize", "minimize"])
    manager = multiprocessing.Manager()
    counter, times, lock = manager.Value("i", 0), manager.list(), manager.Lock()
    start = time.time()
    procs = [multiprocessing.Process(target=worker,
                                     args=(a.url, name, i + 1, a.trials, counter, times, lock))
             for i in range(a.workers)]
    for pr in procs:
        pr.start()
    for pr in procs:
        pr.join()
    done = sorted(times)
    seconds = time.time() - start
    print(f"Optuna {optuna.__version__} RDB storage: {a.workers} workers, {len(done)} trials, "
          "NSGA-II sampler, 3 objectives, durable PostgreSQL\n")
    print("| results | wall s | round trips/s |\n|---|---|---|")
    print(f"| {len(done)} | {seconds:.1f} | {len(done) / seconds:.1f} |\n")
    print("| results so far | ms per result (over the last 100) | ratio to the first |\n"
          "|---|---|---|")
    first = 0
    for w in a.windows.split(","):
        end = int(w)
        if end < 100 or end > len(done):
            continue
        ms = (done[end - 1] - done[end - 100]) * 1000 / 99
        first = first or ms
        print(f"| {end} | {ms:.3f} | {ms / first:.2f} |")


if __name__ == "__main__":
    main()
