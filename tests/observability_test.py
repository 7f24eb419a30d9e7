#!/usr/bin/python3
"""Watching a search, end to end, with real parts only.

Starts an embedded PostgreSQL, nas-controller and two nas-trainer workers (each serving
/metrics), registers a lookup-table profile that nas-profile measured on this machine, runs a
short real search on Fashion-MNIST, and a real Prometheus server (Debian's) scraping them with
deploy/prometheus/prometheus.yml and its rules. Then:
  - every target is up, every rule evaluates without error, every recorded series has data,
    and the quantity every alert compares has data (the alert's expression without its
    threshold), while the full alert expressions parse;
  - every PromQL expression of the Grafana dashboards (deploy/grafana/dashboards) returns at
    least one series for the search;
  - `nasctl watch` printed progress lines and ended with the fronts;
  - `nasctl pareto --plot` wrote an SVG that headless Chromium renders to a non-blank PNG of the
    expected size, with the front's blue on it;
  - controller and worker logs carry one line per event with search and candidate ids.
Each check is a JUnit test case (in $XML_OUTPUT_FILE, read by tests/run.sh).
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.parse
import urllib.request
import zlib

import yaml

sys.path.insert(0, os.path.join(os.getcwd(), "tests"))
from junit_cases import Cases  # noqa: E402
from service_stack import Stack, free_port, wait_for  # noqa: E402

ROOT = os.getcwd()  # the runfiles tree: binaries and deploy/ files as in the repository
CONTROLLER = os.path.join(ROOT, "services/nas-controller")
NASCTL = os.path.join(ROOT, "cli/nasctl")
TRAINER = os.path.join(ROOT, "trainer/nas-trainer")
PROFILER = os.path.join(ROOT, "trainer/nas-profile")
PROMETHEUS_YML = os.path.join(ROOT, "deploy/prometheus/prometheus.yml")
RULES_YML = os.path.join(ROOT, "deploy/prometheus/rules.yml")
DASHBOARDS = os.path.join(ROOT, "deploy/grafana/dashboards")
EMBEDDED_PG = os.path.join(ROOT, "deploy/embedded_postgres.sh")

SPACE = {"name": "mobilenetv2", "kernels": [3], "expansions": [3], "maxDepth": 1,
         "resolutions": [28], "widthMultipliersPercent": [50, 75]}


def run(argv, env, **kw):
    r = subprocess.run(argv, env=env, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r.stdout


class Prometheus:
    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, **params):
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise AssertionError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr):
        """Instant query; AssertionError (with Prometheus' message) when it does not parse."""
        try:
            return self.get("/api/v1/query", query=expr)["result"]
        except urllib.error.HTTPError as e:
            raise AssertionError(f"query {expr!r} failed: {e.read().decode()}")


def png_pixels(path):
    """Decodes an 8-bit RGB/RGBA PNG (what Chromium writes): (width, height, rows of bytes, bpp)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6), f"unexpected PNG format {depth} {color}"
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, rows, bpp


def strip_threshold(expr):
    """The quantity an alert compares: 'x > 3' -> 'x'."""
    m = re.match(r"^(.*?)\s*(==|!=|>=|<=|>|<)\s*[-+0-9.eE]+\s*$", expr.strip(), re.S)
    assert m, f"alert expression {expr!r} is not '<quantity> <comparison> <number>'"
    return m.group(1)


def dashboard_queries(search_id):
    out = []
    for name in sorted(os.listdir(DASHBOARDS)):
        dash = json.load(open(os.path.join(DASHBOARDS, name)))
        for panel in dash["panels"]:
            for t in panel.get("targets", []):
                expr = t["expr"].replace("$search", str(search_id)).replace("$__rate_interval", "1m")
                out.append((f"{name}: {panel['title']} ({t['refId']})", expr))
    return out


def main():
    cases = Cases("observability_test")
    check = cases.check

    tmp = tempfile.mkdtemp(prefix="nas-observability-", dir="/tmp")
    os.chmod(tmp, 0o755)  # as root, PostgreSQL runs as user postgres and must reach its dir
    stack = Stack(tmp, EMBEDDED_PG)
    ctx = {}
    try:
        # ---- the service ----------------------------------------------------------------
        stack.pg_dir = os.path.join(tmp, "postgres")
        url = run([EMBEDDED_PG, "start", stack.pg_dir], stack.env, cwd="/").strip()
        grpc_port, metrics_port, prom_port = free_port(), free_port(), free_port()
        stack.start("controller", [
            CONTROLLER, f"--listen=127.0.0.1:{grpc_port}", f"--database_url={url}",
            f"--worker_token_file={tmp}/worker.token", f"--admin_token_file={tmp}/admin.token",
            f"--metrics_listen=127.0.0.1:{metrics_port}"])
        stack.env["NAS_SERVER"] = f"127.0.0.1:{grpc_port}"
        wait_for("the controller", lambda: subprocess.run(
            [NASCTL, "health"], env=stack.env, capture_output=True).returncode == 0, 60)
        stack.env["NAS_TOKEN"] = open(f"{tmp}/admin.token").read().strip()

        # A lookup table of this machine for the narrowed space, as a user would make one.
        with open(f"{tmp}/space.textproto", "w") as f:
            f.write('name: "mobilenetv2" kernels: [3] expansions: [3] max_depth: 1 '
                    'resolutions: [28] width_multipliers_percent: [50, 75]\n')
        run([PROFILER, f"--space_spec={tmp}/space.textproto", "--runs=10", "--warmup=3",
             "--overhead_networks=4", f"--out={tmp}/host.lut"], stack.env)
        run([NASCTL, "profiles", "register", f"--lut={tmp}/host.lut", "--name=host-lut",
             "--device_tag=host-cpu"], stack.env)

        worker_ports = [free_port(), free_port()]
        for i, port in enumerate(worker_ports):
            stack.start(f"trainer-{i}", [
                TRAINER, f"--controller=127.0.0.1:{grpc_port}",
                f"--worker_token_file={tmp}/worker.token", "--device_tag=host-cpu",
                "--threads=1", f"--metrics_listen=127.0.0.1:{port}"])

        # ---- Prometheus, with the deployment's config pointed at loopback ----------------
        config = yaml.safe_load(open(PROMETHEUS_YML))
        config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
        config["rule_files"] = [RULES_YML]
        targets = {"nas-controller": [f"127.0.0.1:{metrics_port}"],
                   "nas-trainer": [f"127.0.0.1:{p}" for p in worker_ports]}
        for job in config["scrape_configs"]:
            for key in ("static_configs", "dns_sd_configs"):
                job.pop(key, None)
            job["static_configs"] = [{"targets": targets[job["job_name"]]}]
        with open(f"{tmp}/prometheus.yml", "w") as f:
            yaml.safe_dump(config, f)
        check("promtool accepts the rules and the config",
              lambda: (run(["promtool", "check", "rules", RULES_YML], stack.env),
                       run(["promtool", "check", "config", f"{tmp}/prometheus.yml"], stack.env)))
        stack.start("prometheus", [
            "prometheus", f"--config.file={tmp}/prometheus.yml",
            f"--storage.tsdb.path={tmp}/tsdb", f"--web.listen-address=127.0.0.1:{prom_port}"])
        prom = Prometheus(prom_port)
        wait_for("Prometheus", lambda: prom.get("/api/v1/status/buildinfo"), 60)

        time.sleep(3)
        stack.check_alive()  # the workers serve /metrics and poll

        # ---- a short real search, watched ----------------------------------------------
        spec = {"displayName": "observability", "dataset": "fashion-mnist", "space": SPACE,
                "strategy": {"name": "evolution", "seed": 3,
                             "settings": {"population": "2"}},
                "profileIds": ["host-cpu", "host-lut", "rpi4-cortex-a72"],
                "objectives": [{"metric": "METRIC_ACCURACY"}, {"metric": "METRIC_LATENCY"}],
                "budget": {"maxCandidates": 4, "maxParallel": 2},
                "recipe": {"epochs": 1, "batchSize": 64, "trainSubset": 512}}
        with open(f"{tmp}/spec.json", "w") as f:
            json.dump(spec, f)
        submitted = json.loads(run([NASCTL, "submit", f"--spec={tmp}/spec.json", "--json"],
                                   stack.env).splitlines()[0])
        search_id = int(submitted["id"])
        watch = subprocess.run([NASCTL, "watch", str(search_id)], env=stack.env,
                               capture_output=True, text=True, timeout=300)
        ctx["watch"] = watch

        def watch_shows_progress_and_fronts():
            assert watch.returncode == 0, watch.stderr
            lines = watch.stdout.splitlines()
            progress = [l for l in lines if re.match(r"^\[[#.]{24}\] \d+/\d+", l)]
            assert progress, watch.stdout
            assert any("ETA" in l for l in progress), "no ETA while running:\n" + watch.stdout
            assert any("hv host-lut@1" in l for l in progress), watch.stdout
            assert re.search(r"\[#{24}\] 4/4 .*SUCCEEDED", watch.stdout), watch.stdout
            assert f"Pareto front of search {search_id} on host-cpu@1" in watch.stdout, watch.stdout
        check("nasctl watch shows progress, hypervolume, ETA, then the fronts",
              watch_shows_progress_and_fronts)

        # A second, longer search keeps running while Prometheus is checked, so that series
        # only running searches have (seconds since progress) exist; it is cancelled at the end.
        spec.update({"displayName": "observability-running",
                     "budget": {"maxCandidates": 200, "maxParallel": 2}})
        with open(f"{tmp}/spec2.json", "w") as f:
            json.dump(spec, f)
        running = int(json.loads(run([NASCTL, "submit", f"--spec={tmp}/spec2.json", "--json"],
                                     stack.env).splitlines()[0])["id"])
        ctx["running"] = running

        def evaluated(search):
            got = json.loads(run([NASCTL, "get", str(search), "--json"], stack.env))
            return int(got.get("progress", {}).get("evaluated", 0))
        wait_for("a result of the running search", lambda: evaluated(running) >= 1, 300)
        time.sleep(5)  # a few scrapes and rule evaluations after it

        def targets_up():
            active = prom.get("/api/v1/targets")["activeTargets"]
            assert len(active) == 3, active
            for t in active:
                assert t["health"] == "up", t
        check("Prometheus scrapes the controller and both workers", targets_up)

        def rules_healthy():
            wait_for("rule evaluations", lambda: all(
                r.get("lastEvaluation", "").startswith("20") and
                not r["lastEvaluation"].startswith("0001")
                for g in prom.get("/api/v1/rules")["groups"] for r in g["rules"]), 30)
            rules = [r for g in prom.get("/api/v1/rules")["groups"] for r in g["rules"]]
            assert len(rules) >= 10, rules
            for r in rules:
                assert r["health"] == "ok", r
                if r["type"] == "recording":
                    assert prom.query(r["name"]), f"recording rule {r['name']} has no series"
                else:
                    prom.query(r["query"])  # parses
                    quantity = strip_threshold(r["query"])
                    assert prom.query(quantity), f"alert {r['name']}: {quantity!r} has no series"
                    assert r["state"] == "inactive", f"alert {r['name']} is {r['state']}"
        check("every rule evaluates; recorded series and alert quantities have data",
              rules_healthy)

        def dashboards_have_data():
            queries = dashboard_queries(running)
            assert len(queries) >= 20, queries
            empty = [f"{name}: {expr}" for name, expr in queries if not prom.query(expr)]
            assert not empty, "no series for:\n" + "\n".join(empty)
            values = prom.get("/api/v1/label/search/values", **{"match[]": "nas_search_info"})
            assert str(search_id) in values and str(running) in values, values
        check("every Grafana panel query returns series for a running search",
              dashboards_have_data)

        def metric_values_are_right():
            hv = prom.query(f'nas_search_hypervolume{{search="{search_id}"}}')
            assert {s["metric"]["profile"] for s in hv} == {
                "host-cpu@1", "host-lut@1", "rpi4-cortex-a72@1"}, hv
            assert all(float(s["value"][1]) > 0 for s in hv), hv
            done = prom.query(f'nas_search_candidates{{search="{search_id}",state="EVALUATED"}}')
            assert float(done[0]["value"][1]) == 4, done
            ok = prom.query('sum(nas_worker_tasks_total{outcome="ok"})')
            assert float(ok[0]["value"][1]) >= 5, ok  # both searches' results
            err = prom.query('nas_latency_prediction_error_ratio_count{profile="host-lut@1"}')
            assert float(err[0]["value"][1]) >= 5, err
            ended = prom.query(f'nas_search_info{{search="{search_id}"}}')
            assert ended[0]["metric"]["state"] == "SUCCEEDED", ended
            assert prom.query(f'nas_search_seconds_since_progress{{search="{running}"}}')
        check("metric values match the search (4 results, 3 fronts, predictor errors)",
              metric_values_are_right)

        def plot_renders():
            svg = f"{tmp}/front.svg"
            run([NASCTL, "pareto", str(search_id), f"--plot={svg}"], stack.env)
            text = open(svg).read()
            assert text.count('class="front"') >= 2 * 3, text[:400]
            png = f"{tmp}/front.png"
            r = subprocess.run(
                ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                 f"--user-data-dir={tmp}/chromium", "--window-size=1100,1296",
                 f"--screenshot={png}", "file://" + svg],
                env=stack.env, capture_output=True, text=True, timeout=120)
            assert os.path.exists(png), f"chromium wrote no screenshot: {r.stderr[-2000:]}"
            width, height, rows, bpp = png_pixels(png)
            assert (width, height) == (1100, 1296), (width, height)
            ink = blue = 0
            for row in rows:
                for i in range(0, len(row), bpp):
                    r_, g_, b_ = row[i], row[i + 1], row[i + 2]
                    ink += (r_ + g_ + b_) < 600
                    blue += b_ > 180 and r_ < 80 and g_ < 150
            total = width * height
            assert ink > total * 0.01, f"only {ink} of {total} pixels are not white"
            assert blue > 50, f"only {blue} front-blue pixels"
            keep = os.environ.get("NAS_KEEP_PLOT")
            if keep:
                shutil.copy(png, keep)
        check("nasctl pareto --plot renders in headless Chromium", plot_renders)

        def logs_are_structured():
            controller = stack.log("controller")
            assert f"event=search_submitted search={search_id} " in controller, controller[-2000:]
            assert re.search(rf"event=lease_granted search={search_id} candidate=\d+ lease=\d+",
                             controller), controller[-2000:]
            assert len(re.findall(rf"event=result_stored search={search_id} candidate=\d+",
                                  controller)) == 4, controller[-3000:]
            workers = stack.log("trainer-0") + stack.log("trainer-1")
            assert len(re.findall(rf"event=result_reported search={search_id} candidate=\d+ "
                                  r"lease=\d+ val_accuracy=", workers)) == 4, workers[-3000:]
        check("controller and worker logs: one line per event with ids", logs_are_structured)
        run([NASCTL, "cancel", str(running)], stack.env)
    except Exception:
        cases.fail("setting up the service, Prometheus and the search", traceback.format_exc())
        for name, _ in stack.procs:
            print(f"--- {name} log (tail) ---\n{stack.log(name)[-3000:]}", flush=True)
    finally:
        stack.stop()
        if not cases.failed:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", flush=True)

    return cases.finish()


if __name__ == "__main__":
    sys.exit(main())
