#!/usr/bin/python3
"""The Kubernetes manifests (deploy/k8s), rendered and checked offline: no cluster runs here.

Every overlay is rendered with `kubectl kustomize` (Debian's kubernetes-client, or whatever
kubectl the machine has), every object of a built-in kind is loaded into python3-kubernetes'
typed models and compared with what was written (a misspelt field is lost in the load, and
reported), and every reference is resolved: selectors to pod templates, Service and probe ports
to container ports, Secrets, ConfigMaps and their keys, service accounts and roles, the
autoscalers' targets, $(VAR)s in args to env, and the trainers' controller address to the
controller's Service. A last case breaks a copy of the base and expects the checks to say so.
"""
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import yaml
from kubernetes import client

ROOT = os.getcwd()  # the runfiles tree: deploy/ as in the repository
OVERLAYS = ["trial", "production", "production-hpa"]
# Secrets an overlay expects to exist in the cluster, created outside the repository.
EXTERNAL_SECRETS = {
    "trial": {},
    "production": {"nas-tokens": {"worker-token", "admin-token"}, "nas-database": {"url"}},
    "production-hpa": {"nas-tokens": {"worker-token", "admin-token"}, "nas-database": {"url"}},
}
# Fields newer than python3-kubernetes' models (Kubernetes 1.22): gRPC probes (1.24).
NEWER_FIELDS = {"grpc"}
WORKLOADS = {"Deployment", "StatefulSet"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


def render(deploy_dir, overlay):
    out = subprocess.run(["kubectl", "kustomize", os.path.join(deploy_dir, "k8s/overlays", overlay)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"kubectl kustomize {overlay}: {out.stderr}")
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def model_name(doc):
    group_version, kind = doc["apiVersion"], doc["kind"]
    if "keda.sh" in group_version:
        return None  # a custom resource: checked by reference only
    if group_version == "autoscaling/v2":
        return "V2beta2" + kind  # the same fields, under the name this client knows
    version = group_version.split("/")[-1]
    return version[0].upper() + version[1:] + kind


class _Response:
    def __init__(self, doc):
        self.data = json.dumps(doc)


def lost_fields(written, loaded, path=""):
    """Keys present in `written` but not in the typed model's serialization of it."""
    lost = []
    if isinstance(written, dict) and isinstance(loaded, dict):
        for k, v in written.items():
            if k not in loaded:
                if k not in NEWER_FIELDS:
                    lost.append(f"{path}.{k}")
            else:
                lost += lost_fields(v, loaded[k], f"{path}.{k}")
    elif isinstance(written, list) and isinstance(loaded, list):
        for i, (w, l) in enumerate(zip(written, loaded)):
            lost += lost_fields(w, l, f"{path}[{i}]")
    return lost


def pod_spec(doc):
    return doc["spec"]["template"]["spec"]


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check(docs, external_secrets):
    """Every problem found, as one line each."""
    problems = []
    api = client.ApiClient()
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
        name = f'{d["kind"]}/{d["metadata"]["name"]}'
        if d["kind"] not in CLUSTER_SCOPED and d["metadata"].get("namespace") != "nas":
            problems.append(f"{name}: not in namespace nas")
        model = model_name(d)
        if model is None:
            continue
        if not hasattr(client, model):
            problems.append(f"{name}: no model {model}")
            continue
        loaded = api.sanitize_for_serialization(api.deserialize(_Response(d), model))
        problems += [f"{name}: field {f} unknown to Kubernetes" for f in lost_fields(d, loaded)]

    def exists(kind, name):
        return name in by_kind.get(kind, {})

    secrets = {n: set((s.get("data") or {}).keys()) for n, s in by_kind.get("Secret", {}).items()}
    for n, keys in external_secrets.items():
        secrets[n] = keys
    config_maps = {n: set((c.get("data") or {}).keys())
                   for n, c in by_kind.get("ConfigMap", {}).items()}
    templates = []  # (workload name, pod labels, pod spec)
    for kind in WORKLOADS:
        for n, w in by_kind.get(kind, {}).items():
            labels = w["spec"]["template"]["metadata"].get("labels", {})
            if not matches(w["spec"]["selector"].get("matchLabels"), labels):
                problems.append(f"{kind}/{n}: selector does not match its pod template")
            templates.append((n, labels, pod_spec(w)))

    def container_ports(spec):
        ports = {}
        for c in spec["containers"]:
            for p in c.get("ports", []):
                ports[p.get("name", p["containerPort"])] = p["containerPort"]
        return ports

    for n, labels, spec in templates:
        where = f"pod of {n}"
        ports = container_ports(spec)
        sa = spec.get("serviceAccountName")
        if sa and not exists("ServiceAccount", sa):
            problems.append(f"{where}: service account {sa} does not exist")
        for v in spec.get("volumes", []):
            if "secret" in v:
                s = v["secret"]["secretName"]
                if s not in secrets:
                    problems.append(f"{where}: volume {v['name']}: Secret {s} does not exist")
                for item in v["secret"].get("items", []):
                    if s in secrets and item["key"] not in secrets[s]:
                        problems.append(f"{where}: Secret {s} has no key {item['key']}")
            if "configMap" in v and v["configMap"]["name"] not in config_maps:
                problems.append(f"{where}: ConfigMap {v['configMap']['name']} does not exist")
        for c in spec["containers"]:
            env = {e["name"] for e in c.get("env", [])}
            for e in c.get("env", []):
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["key"] not in secrets.get(ref["name"], set()):
                    problems.append(f"{where}: env {e['name']}: Secret {ref['name']} "
                                    f"has no key {ref['key']}")
            for arg in c.get("args", []) + c.get("command", []):
                for var in re.findall(r"\$\((\w+)\)", arg):
                    if var not in env:
                        problems.append(f"{where}: {arg} uses $({var}), which is not in env")
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                p = c.get(probe, {})
                for how in ("grpc", "tcpSocket", "httpGet"):
                    port = p.get(how, {}).get("port")
                    if port is not None and port not in ports and port not in ports.values():
                        problems.append(f"{where}: {probe} port {port} is not a container port")
            for arg in c.get("args", []):
                m = re.match(r"--controller=dns:///([\w-]+)\.nas\.svc\.cluster\.local:(\d+)$", arg)
                if m:
                    svc = by_kind.get("Service", {}).get(m.group(1))
                    if svc is None or int(m.group(2)) not in [p["port"] for p in svc["spec"]["ports"]]:
                        problems.append(f"{where}: {arg} names no port of a Service")
    for n, svc in by_kind.get("Service", {}).items():
        pods = [(w, spec) for w, labels, spec in templates
                if matches(svc["spec"].get("selector"), labels)]
        if not pods:
            problems.append(f"Service/{n}: selector matches no pod template")
        for p in svc["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            for w, spec in pods:
                ports = container_ports(spec)
                if target not in ports and target not in ports.values():
                    problems.append(f"Service/{n}: targetPort {target} is not a port of {w}")
    for n, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        if not any(matches(pdb["spec"]["selector"]["matchLabels"], l) for _, l, _ in templates):
            problems.append(f"PodDisruptionBudget/{n}: selector matches no pod template")
    for n, rb in by_kind.get("RoleBinding", {}).items():
        if not exists(rb["roleRef"]["kind"], rb["roleRef"]["name"]):
            problems.append(f"RoleBinding/{n}: {rb['roleRef']['kind']} "
                            f"{rb['roleRef']['name']} does not exist")
        for s in rb["subjects"]:
            if s["kind"] == "ServiceAccount" and not exists("ServiceAccount", s["name"]):
                problems.append(f"RoleBinding/{n}: service account {s['name']} does not exist")
    for n, so in by_kind.get("ScaledObject", {}).items():
        if not exists("Deployment", so["spec"]["scaleTargetRef"]["name"]):
            problems.append(f"ScaledObject/{n}: no Deployment {so['spec']['scaleTargetRef']['name']}")
        for t in so["spec"]["triggers"]:
            auth = t.get("authenticationRef", {}).get("name")
            if auth and not exists("TriggerAuthentication", auth):
                problems.append(f"ScaledObject/{n}: no TriggerAuthentication {auth}")
    for n, ta in by_kind.get("TriggerAuthentication", {}).items():
        for ref in ta["spec"].get("secretTargetRef", []):
            if ref["key"] not in secrets.get(ref["name"], set()):
                problems.append(f"TriggerAuthentication/{n}: Secret {ref['name']} has no "
                                f"key {ref['key']}")
    for n, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        target = hpa["spec"]["scaleTargetRef"]
        if not exists(target["kind"], target["name"]):
            problems.append(f"HorizontalPodAutoscaler/{n}: no {target['kind']} {target['name']}")
    return problems


class ManifestsTest(unittest.TestCase):
    def test_every_overlay_renders_loads_and_refers_to_what_exists(self):
        for overlay in OVERLAYS:
            with self.subTest(overlay=overlay):
                docs = render(os.path.join(ROOT, "deploy"), overlay)
                kinds = {d["kind"] for d in docs}
                for kind in ("Deployment", "Service", "PodDisruptionBudget", "ConfigMap"):
                    self.assertIn(kind, kinds)
                self.assertEqual(check(docs, EXTERNAL_SECRETS[overlay]), [])
                controller = next(d for d in docs if d["kind"] == "Deployment"
                                  and d["metadata"]["name"] == "nas-controller")
                self.assertGreaterEqual(controller["spec"]["replicas"], 2)
                self.assertEqual(overlay == "trial",
                                 any(d["kind"] == "StatefulSet" for d in docs))
                self.assertEqual(overlay == "production",
                                 any(d["kind"] == "ScaledObject" for d in docs))
                self.assertEqual(overlay == "production-hpa",
                                 any(d["kind"] == "HorizontalPodAutoscaler" for d in docs))

    def test_the_checks_catch_broken_references(self):
        docs = render(os.path.join(ROOT, "deploy"), "trial")
        broken = copy.deepcopy(docs)
        for d in broken:
            if d["kind"] == "Service" and d["metadata"]["name"] == "nas-controller":
                d["spec"]["ports"][0]["targetPort"] = "grcp"
            if d["kind"] == "Deployment" and d["metadata"]["name"] == "nas-trainer":
                d["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] = "nas-token"
                d["spec"]["template"]["spec"]["containers"][0]["resources"]["request"] = {}
        problems = "\n".join(check(broken, {}))
        self.assertIn("Service/nas-controller: targetPort grcp", problems)
        self.assertIn("Secret nas-token does not exist", problems)
        self.assertIn("resources.request unknown to Kubernetes", problems)


if __name__ == "__main__":
    # Runfiles are links into the source tree, which kustomize's root check refuses: render a
    # copy with the links followed.
    work = tempfile.mkdtemp()
    shutil.copytree(os.path.join(ROOT, "deploy"), os.path.join(work, "deploy"), symlinks=False)
    ROOT = work
    result = unittest.main(exit=False, verbosity=2).result
    shutil.rmtree(work)
    sys.exit(0 if result.wasSuccessful() else 1)
