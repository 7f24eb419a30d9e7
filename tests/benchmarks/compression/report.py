#!/usr/bin/python3
"""The compression benchmark's report (tests/benchmarks/compression/compression_benchmark.sh).

  report.py STATE_DIR SEARCH_ID [BASELINE_SEARCH_ID]

Reads the searches' candidates (`nasctl candidates ID --json`; NAS_SERVER and NAS_TOKEN set)
and their leases (psql on the state's embedded PostgreSQL) and prints, in Markdown, from the
test split: the reference; the smallest model within 1 point of it and its ratios; the most
accurate model that fits the Cortex-M7 (int8); the worker-hours of each phase. With a baseline
search (the same budget spent by another strategy, the reference's training reused), the same
rows for it, side by side.

Worker-hours are the leases' wall time summed (each worker has one thread on a core of its
own), so two searches sharing the workers are each charged what they used. A reused training
costs the search that reuses it nothing: it is charged to the search that trained it.
"""
import json
import subprocess
import sys

NASCTL = "bazel-bin/cli/nasctl"
M7_ACTIVATIONS = 256 * 1024
M7_WEIGHTS = 1024 * 1024


def candidates(search):
    out = subprocess.run([NASCTL, "candidates", str(search), "--json"], check=True,
                         capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def psql(state, query):
    out = subprocess.run(["psql", "-h", f"{state}/postgres", "-U", "nas", "-d", "nas", "-At",
                          "-F", "\t", "-c", query], check=True, capture_output=True,
                         text=True).stdout
    return [line.split("\t") for line in out.splitlines() if line]


def m(c, key, default=0.0):
    return float(c.get("metrics", {}).get(key, default))


def m7(c):
    return next((p for p in c.get("profile_metrics", [])
                 if p.get("profile_id", "").startswith("cortex-m7")), None)


def fits_m7(c):
    p = m7(c)
    return (p is not None and int(p.get("peak_activation_bytes", 1 << 40)) <= M7_ACTIVATIONS
            and int(p.get("model_bytes", 1 << 40)) <= M7_WEIGHTS)


def lease_hours(state, search, final_ids):
    """Worker-hours of the search phase and of final training (leases, by candidate)."""
    per_candidate = {int(cid): float(h) for cid, h in psql(state, f"""
        SELECT candidate_id,
               SUM(EXTRACT(EPOCH FROM COALESCE(ended_at, now()) - granted_at)) / 3600
        FROM leases WHERE search_id = {int(search)} GROUP BY candidate_id""")}
    final = sum(h for cid, h in per_candidate.items() if cid in final_ids)
    return sum(per_candidate.values()) - final, final


def wall_hours(state, search):
    rows = psql(state, f"""
        SELECT EXTRACT(EPOCH FROM COALESCE(MAX(l.ended_at), now()) - s.created_at) / 3600
        FROM searches s LEFT JOIN leases l ON l.search_id = s.id
        WHERE s.id = {int(search)} GROUP BY s.created_at""")
    return float(rows[0][0]) if rows else 0.0


def strategy(search):
    out = subprocess.run([NASCTL, "get", str(search), "--json"], check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out)["spec"]["strategy"]["name"]


def report(state, search, title):
    """Prints one search's table; returns its figures for the side-by-side summary."""
    cands = candidates(search)
    evaluated = [c for c in cands if c.get("state") == "CANDIDATE_STATE_EVALUATED"]
    finals = [c for c in evaluated if c.get("fidelity", {}).get("final_training")]
    done = finals or evaluated
    ref = next((c for c in done if c.get("is_reference")), None)
    if ref is None:
        sys.exit(f"report: search {search}: the reference was not evaluated")
    ra = m(ref, "test_accuracy")
    final_ids = {int(c["id"]) for c in cands if c.get("fidelity", {}).get("final_training")}
    search_h, final_h = lease_hours(state, search, final_ids)
    reused = {int(r[0]) for r in psql(state, f"SELECT candidate_id FROM evaluations "
                                      f"WHERE search_id = {int(search)} AND reused_from IS NOT NULL")}
    failed = sum(1 for c in cands if c.get("state") == "CANDIDATE_STATE_FAILED")
    print(f"### {title}: search {search}\n")
    print(f"{len(evaluated) - len(finals)} models searched, {len(finals)} finalists trained, "
          f"{failed} failed; worker-hours (one thread each): search phase {search_h:.2f}, "
          f"final training {final_h:.2f}; {wall_hours(state, search):.2f} hours from submit "
          f"to the last result.\n")
    print("| model | params | MACs | int8 bytes | M7 peak act. | test acc | int8 test acc "
          "| vs ResNet-18 |")
    print("|---|---|---|---|---|---|---|---|")

    def row(name, c):
        vs = c.get("vs_reference", {})
        note = " (training reused)" if int(c["id"]) in reused else ""
        cmp = "reference" if c is ref else (
            f"{float(vs.get('params_ratio', 0)):.1f}x fewer params, "
            f"{float(vs.get('macs_ratio', 0)):.1f}x fewer MACs, "
            f"{100 * (m(c, 'test_accuracy') - ra):+.2f} points")
        p = m7(c)
        act = f"{int(p.get('peak_activation_bytes', 0)) / 1024:.0f} KB" if p else "-"
        print(f"| {name} (candidate {c['id']}){note} | {int(m(c, 'params')):,} "
              f"| {int(m(c, 'macs')):,} | {int(m(c, 'int8_model_bytes')):,} | {act} "
              f"| {m(c, 'test_accuracy'):.4f} | {m(c, 'int8_test_accuracy', -1):.4f} | {cmp} |")

    row("ResNet-18", ref)
    others = [c for c in done if c is not ref]
    within = [c for c in others if m(c, "test_accuracy") >= ra - 0.01]
    smallest = min(within, key=lambda c: m(c, "params")) if within else None
    if smallest:
        row("smallest within 1 point", smallest)
    fits = [c for c in others if fits_m7(c)]
    best_m7 = max(fits, key=lambda c: m(c, "int8_test_accuracy", -1)) if fits else None
    if best_m7:
        row("best Cortex-M7 (int8)", best_m7)
    for c in sorted(others, key=lambda c: m(c, "params")):
        if c is not smallest and c is not best_m7:
            row("finalist" if finals else "model", c)
    if not within:
        print("\nNo model within 1 point of the reference.")
    if not fits:
        print(f"\nNo model fits the Cortex-M7 ({M7_ACTIVATIONS // 1024} KB peak activations, "
              f"{M7_WEIGHTS // 1024} KB int8 weights).")
    print()
    return {
        "ref": ra,
        "ratio": float(smallest.get("vs_reference", {}).get("params_ratio", 0)) if smallest else 0,
        "m7": m(best_m7, "int8_test_accuracy", -1) if best_m7 else None,
        "best": max((m(c, "test_accuracy") for c in others), default=0),
        "hours": search_h + final_h,
    }


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    state, search = sys.argv[1], sys.argv[2]
    main_figures = report(state, search, f"The search ({strategy(search)})")
    if len(sys.argv) == 4:
        base = report(state, sys.argv[3], f"The baseline ({strategy(sys.argv[3])}, the same budget)")
        print("| | search | baseline |\n|---|---|---|")
        print(f"| smallest within 1 point: fewer params | {main_figures['ratio']:.1f}x "
              f"| {base['ratio']:.1f}x |")
        fmt = lambda v: "none fits" if v is None else f"{v:.4f}"  # noqa: E731
        print(f"| best Cortex-M7 int8 test acc | {fmt(main_figures['m7'])} | {fmt(base['m7'])} |")
        print(f"| best finalist test acc | {main_figures['best']:.4f} | {base['best']:.4f} |")
        print(f"| worker-hours | {main_figures['hours']:.2f} | {base['hours']:.2f} |")


if __name__ == "__main__":
    main()
