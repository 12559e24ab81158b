#!/usr/bin/env python3
"""Checks Deploy/ as far as a machine without Docker or Kubernetes can (run by DeployTests):
every YAML and JSON file parses and carries what the deployment relies on, and the runtime
image installs a Debian package for every shared library the built clipq needs.

    python3 Tests/Fixtures/deploy/check_deploy.py REPO_ROOT PATH_TO_BUILT_CLIPQ

Prints one line per failed check and exits 1 if any failed.
"""
import configparser
import json
import os
import re
import subprocess
import sys

import yaml

root, binary = sys.argv[1], sys.argv[2]
deploy = os.path.join(root, "Deploy")
failures = []


def check(condition, what):
    if not condition:
        failures.append(what)


def load_yaml(name):
    with open(os.path.join(deploy, name)) as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


# --- compose.yaml -------------------------------------------------------------------------
(compose,) = load_yaml("compose.yaml")
services = compose["services"]
check("management" in services["rabbitmq"]["image"], "compose: rabbitmq has the management UI")
check("15672:15672" in " ".join(services["rabbitmq"].get("ports", [])), "compose: management UI port published")
check("healthcheck" in services["rabbitmq"], "compose: rabbitmq healthcheck")
worker = services["worker"]
check(worker["build"]["dockerfile"] == "Deploy/Dockerfile", "compose: worker built from Deploy/Dockerfile")
check("replicas" in worker.get("deploy", {}), "compose: worker replicas")
check("/readyz" in " ".join(worker["healthcheck"]["test"]), "compose: worker healthcheck on /readyz")
check(any(v.endswith(":/models:ro") for v in worker["volumes"]), "compose: model volume mounted read-only")
check(worker["environment"].get("CLIPQ_HEALTH_PORT") == "8080", "compose: worker health port")
check(worker["depends_on"]["topology"]["condition"] == "service_completed_successfully",
      "compose: workers start after the definitions are loaded")
topology = services["topology"]
check(any(v.startswith("./rabbitmq/definitions.json:") for v in topology["volumes"]), "compose: definitions mounted")
check(any("/api/definitions" in str(a) for a in topology["command"]), "compose: definitions posted to the management API")

# --- compose.cluster.yaml: three nodes that find each other, workers that know all three ----
(cluster,) = load_yaml("compose.cluster.yaml")
nodes = {name: svc for name, svc in cluster["services"].items() if name.startswith("rabbitmq")}
check(len(nodes) == 3, "compose cluster: three RabbitMQ nodes")
with open(os.path.join(deploy, "rabbitmq/cluster.conf")) as f:
    cluster_conf = dict(line.split(" = ", 1) for line in f.read().splitlines() if " = " in line and not line.startswith("#"))
check(cluster_conf.get("cluster_formation.peer_discovery_backend") == "classic_config", "cluster.conf: classic config peer discovery")
peers = sorted(v.split("@", 1)[1] for k, v in cluster_conf.items() if k.startswith("cluster_formation.classic_config.nodes."))
hostnames = sorted(svc.get("hostname", "") for svc in nodes.values())
check(peers == hostnames, f"compose cluster: the nodes' host names {hostnames} are cluster.conf's peers {peers}")
for name, svc in nodes.items():
    svc = {**compose["services"].get(name, {}), **svc}
    check(any(v.startswith("./rabbitmq/cluster.conf:/etc/rabbitmq/conf.d/") for v in svc.get("volumes", [])),
          f"compose cluster: {name} reads cluster.conf")
    check("RABBITMQ_ERLANG_COOKIE" in svc.get("environment", {}), f"compose cluster: {name} shares the Erlang cookie")
cookies = {svc["environment"].get("RABBITMQ_ERLANG_COOKIE") for svc in nodes.values()}
check(len(cookies) == 1, "compose cluster: one cookie for all nodes")
resolvable = set(nodes) | {a for svc in nodes.values() for n in svc.get("networks", {}).values() for a in (n or {}).get("aliases", [])}
check(set(hostnames) <= resolvable, "compose cluster: every node's host name resolves (a service name or an alias)")
worker_urls = cluster["services"]["worker"]["environment"]["CLIPQ_AMQP_URL"].split(",")
check(sorted(re.search(r"@([^:/]+)", u).group(1) for u in worker_urls) == hostnames, "compose cluster: workers list every node")
for dependency in nodes:
    check(dependency in cluster["services"]["topology"]["depends_on"], f"compose cluster: definitions wait for {dependency}")
check(any(v.startswith("./rabbitmq/definitions.cluster.json:/definitions.json") for v in cluster["services"]["topology"]["volumes"]),
      "compose cluster: the cluster's definitions are posted")
check(cluster["services"]["worker"]["environment"].get("CLIPQ_DEAD_QUEUE_TYPE") == "quorum",
      "compose cluster: workers declare the dead-letter queue as the cluster's definitions do (quorum)")

# --- Kubernetes ---------------------------------------------------------------------------
(rabbit,) = load_yaml("kubernetes/rabbitmq-cluster.yaml")
check(rabbit["apiVersion"].startswith("rabbitmq.com/") and rabbit["kind"] == "RabbitmqCluster", "kubernetes: a RabbitmqCluster")
check(rabbit["spec"]["replicas"] == 3, "kubernetes: three RabbitMQ nodes")
with open(os.path.join(deploy, "kubernetes/rabbitmq-cluster.yaml")) as f:
    rabbit_text = f.read()
service = rabbit["metadata"]["name"]
check(f"@{service}:5672" in rabbit_text, "kubernetes: the workers' URL goes to the cluster's Service")
docs = load_yaml("kubernetes/worker.yaml") + load_yaml("kubernetes/keda.yaml")
kinds = {d["kind"]: d for d in docs}
for kind in ["Deployment", "PodDisruptionBudget", "ScaledObject", "TriggerAuthentication"]:
    check(kind in kinds, f"kubernetes: a {kind}")
    check(all(k in kinds.get(kind, {}) for k in ["apiVersion", "metadata", "spec"]), f"kubernetes: {kind} is complete")
deployment = kinds["Deployment"]
pod = deployment["spec"]["template"]["spec"]
labels = deployment["spec"]["template"]["metadata"]["labels"]
check(deployment["spec"]["selector"]["matchLabels"].items() <= labels.items(), "kubernetes: selector matches the pod labels")
check(kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items(), "kubernetes: PDB selects the pods")
(container,) = pod["containers"]
args = container.get("args", [])
drain = int(args[args.index("--drain-seconds") + 1]) if "--drain-seconds" in args else 60
check(pod["terminationGracePeriodSeconds"] >= drain + 5, "kubernetes: grace period at least --drain-seconds + 5 (the batch in the encoder gets 3 s past the drain)")
check(pod["securityContext"]["runAsNonRoot"] is True, "kubernetes: non-root")
check(container["readinessProbe"]["httpGet"]["path"] == "/readyz", "kubernetes: readiness probe on /readyz")
check(container["livenessProbe"]["httpGet"]["path"] == "/healthz", "kubernetes: liveness probe on /healthz")
env = {e["name"]: e.get("value") for e in container["env"]}
ports = {p["name"]: p["containerPort"] for p in container["ports"]}
check(str(ports.get("health")) == env.get("CLIPQ_HEALTH_PORT"), "kubernetes: probes reach the worker's health port")
scrape = deployment["spec"]["template"]["metadata"].get("annotations", {})
check(scrape.get("prometheus.io/port") == env.get("CLIPQ_HEALTH_PORT") and scrape.get("prometheus.io/path") == "/metrics",
      "kubernetes: Prometheus scrapes the worker's /metrics")


def mebibytes(quantity):
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)


resources = container["resources"]
# ViT-L/14@336 fp32 peaks at 1.95 GB resident (docs/performance.md).
check(mebibytes(resources["requests"]["memory"]) * 2**20 >= 1.95e9, "kubernetes: memory request covers the measured RSS")
check(mebibytes(resources["limits"]["memory"]) >= mebibytes(resources["requests"]["memory"]), "kubernetes: limit >= request")
mounts = {m["name"]: m for m in container["volumeMounts"]}
check(mounts["models"].get("readOnly") is True, "kubernetes: model mounted read-only")
amqp_secret = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
check(all(f"secret generic {name} " in rabbit_text for name in amqp_secret), "kubernetes: the cluster's notes make the workers' Secret")
scaled = kinds["ScaledObject"]["spec"]
check(scaled["scaleTargetRef"]["name"] == deployment["metadata"]["name"], "keda: scales the Deployment")
queues = sorted(t["metadata"]["queueName"] for t in scaled["triggers"] if t["type"] == "rabbitmq")
check(queues == ["clipq.bulk", "clipq.requests"], "keda: on the depth of both request queues")
for trigger in scaled["triggers"]:
    check(trigger["authenticationRef"]["name"] == kinds["TriggerAuthentication"]["metadata"]["name"], "keda: authentication found")

# --- the HTTP gateway (compose and Kubernetes) ---------------------------------------------
gateway = services["gateway"]
check(gateway["command"][0] == "gateway", "compose: the gateway runs clipq gateway")
check("--host" in gateway["command"] and gateway["environment"].get("CLIPQ_API_KEY_FILE", "").startswith("/run/secrets/"),
      "compose: a gateway beyond loopback has its keys from a secret")
check(any(s in compose.get("secrets", {}) for s in gateway.get("secrets", [])), "compose: the gateway's secret is defined")
gateway_port = gateway["command"][gateway["command"].index("--port") + 1]
check(any(str(p).endswith(":" + gateway_port) for p in gateway.get("ports", [])), "compose: the gateway's port is published")
check("/readyz" in " ".join(gateway["healthcheck"]["test"]) and gateway_port in " ".join(gateway["healthcheck"]["test"]),
      "compose: gateway healthcheck on its /readyz")
gateway_docs = {d["kind"]: d for d in load_yaml("kubernetes/gateway.yaml")}
for kind in ["Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"]:
    check(kind in gateway_docs, f"kubernetes: a gateway {kind}")
gateway_pod = gateway_docs["Deployment"]["spec"]["template"]
(gateway_container,) = gateway_pod["spec"]["containers"]
gateway_args = gateway_container["args"]
gateway_env = {e["name"]: e.get("value") for e in gateway_container["env"]}
check(gateway_args[0] == "gateway" and "CLIPQ_API_KEY_FILE" in gateway_env, "kubernetes: the gateway runs with keys")
mounted = [m["mountPath"] for m in gateway_container["volumeMounts"]]
check(any(gateway_env["CLIPQ_API_KEY_FILE"].startswith(m + "/") for m in mounted), "kubernetes: the key file is mounted")
http_port = {p["name"]: p["containerPort"] for p in gateway_container["ports"]}["http"]
check(str(http_port) == gateway_args[gateway_args.index("--port") + 1], "kubernetes: the gateway listens on its container port")
check(gateway_container["readinessProbe"]["httpGet"]["path"] == "/readyz", "kubernetes: gateway readiness on /readyz")
check(gateway_container["livenessProbe"]["httpGet"]["path"] == "/healthz", "kubernetes: gateway liveness on /healthz")
check(gateway_docs["Service"]["spec"]["selector"].items() <= gateway_pod["metadata"]["labels"].items(), "kubernetes: the Service selects the gateway")
hpa = gateway_docs["HorizontalPodAutoscaler"]["spec"]
check(hpa["scaleTargetRef"]["name"] == gateway_docs["Deployment"]["metadata"]["name"], "kubernetes: the HPA scales the gateway")
check(hpa["metrics"][0]["resource"]["name"] == "cpu" and "cpu" in gateway_container["resources"]["requests"],
      "kubernetes: the HPA's CPU target has a CPU request to measure against")
timeout_ms = int(gateway_env.get("CLIPQ_REQUEST_TIMEOUT_MS", "30000"))
check(gateway_pod["spec"]["terminationGracePeriodSeconds"] * 1000 > timeout_ms, "kubernetes: grace period longer than the request timeout")

# --- systemd ------------------------------------------------------------------------------
unit = configparser.ConfigParser(strict=False, interpolation=None)
unit.optionxform = str
unit.read(os.path.join(deploy, "systemd/clipq-worker@.service"))
check(unit["Service"]["ExecStart"].split()[1] == "worker", "systemd: runs clipq worker")
check(int(unit["Service"]["TimeoutStopSec"]) >= 65, "systemd: stop timeout at least the drain + 5 s")
check(unit["Install"]["WantedBy"] == "multi-user.target", "systemd: installable")

# --- Dockerfile: the runtime stage installs a package for each library clipq links ----------
with open(os.path.join(deploy, "Dockerfile")) as f:
    dockerfile = f.read()
stages = re.split(r"^FROM ", dockerfile, flags=re.M)[1:]
check(len(stages) == 2, "Dockerfile: a build stage and a runtime stage")
runtime = stages[-1]
check(re.search(r"^USER (?!0|root)", runtime, flags=re.M) is not None, "Dockerfile: runtime runs as non-root")
check("--static-swift-stdlib" in stages[0], "Dockerfile: Swift runtime linked statically")
installed = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", runtime.split("--no-install-recommends", 1)[-1].split("&&", 1)[0]))
needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", subprocess.run(
    ["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout)
base = {"libc6", "libgcc-s1", "libstdc++6"}  # in every Debian image
for soname in needed:
    if soname.startswith(("libswift", "libFoundation", "libdispatch", "libBlocksRuntime", "ld-linux")):
        continue  # the Swift runtime: linked in with --static-swift-stdlib
    path = subprocess.run(["sh", "-c", f"ldconfig -p | awk '$1 == \"{soname}\" {{print $NF; exit}}'"],
                          capture_output=True, text=True).stdout.strip()
    owner = ""
    for candidate in [path, os.path.realpath(path)]:  # dpkg knows one of them (usrmerge)
        owner = owner or subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True).stdout.split(":")[0]
    check(owner in base or owner in installed, f"Dockerfile: runtime lacks {owner or '?'} for {soname}")

# --- broker definitions -------------------------------------------------------------------
with open(os.path.join(deploy, "rabbitmq/definitions.json")) as f:
    definitions = json.load(f)
for key in ["queues", "exchanges", "bindings", "policies"]:
    check(key in definitions, f"definitions: {key}")
with open(os.path.join(deploy, "rabbitmq/definitions.cluster.json")) as f:
    cluster_definitions = json.load(f)
dead = [q for q in cluster_definitions["queues"] if q["name"] == "clipq.dead"]
check(len(dead) == 1 and dead[0]["arguments"].get("x-queue-type") == "quorum", "cluster definitions: a quorum dead-letter queue")
for q in cluster_definitions["queues"]:
    if q["name"] == "clipq.dead":
        q["arguments"].pop("x-queue-type", None)
check(cluster_definitions == definitions, "cluster definitions: the same as definitions.json but for the dead-letter queue's type")

for failure in failures:
    print("FAIL:", failure)
sys.exit(1 if failures else 0)
