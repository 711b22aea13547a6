#!/usr/bin/env python3
"""Generate a fleet of numabench result and probe files for `numabench fleet` tests and benchmarks.

  fleet-gen.py --out DIR --probe PROBE.json --template RUN.json [--hosts N] [--repeats R] [--bw]
               [--cv 0.03] [--seed S] [--inject HOST=KIND[:ARG[:ARG]]]... [--old N] [--prefix P]

Each host gets a probe record (docs/probe-schema.md) made from PROBE.json (`numabench probe --topology
FIXTURE --json`: a recorded machine; the host facts a recorded topology leaves null are filled as a live
host reports them, and the fingerprint is recomputed as docs/probe-schema.md defines it), R run files made from
RUN.json (a real `numabench run` result of this build) with every host's steps/s drawn around the
template's (lognormal, --cv), and with --bw one CUDA bw file (H2D/D2H per node x GPU, local faster
than remote). Drifts injected per host:
  gpu-node:IDX:NODE   GPU IDX's node is NODE (-1: unknown, as sysfs says)
  numa-balancing:V    kernel.numa_balancing is V
  slow:F              every metric of the host times F (0.6: 40% slower)
  missing-node:N      node N is gone (its row and column of the distances too)
  nps:N               NPS is N
  memory:N:GIB        node N has GIB GiB
--old N: N more hosts whose run files predate the probe (no probe object).
"""
import argparse
import copy
import hashlib
import json
import math
import os
import random


def live_facts(probe):
    facts = copy.deepcopy(probe["facts"])
    for k, v in (("numa_balancing", 0), ("transparent_hugepages", "madvise"), ("kernel", "6.1.0-18-amd64"),
                 ("driver", "550.54.15"), ("smt", True), ("nps", 1)):
        if facts.get(k) is None:
            facts[k] = v
    return facts


def fingerprint(facts):
    return hashlib.sha256(json.dumps(facts, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def inject(facts, kind, args):
    if kind == "gpu-node":
        g = next(g for g in facts["gpus"] if g["index"] == int(args[0]))
        g["node"] = None if int(args[1]) < 0 else int(args[1])
    elif kind == "numa-balancing":
        facts["numa_balancing"] = int(args[0])
    elif kind == "missing-node":
        i = next(k for k, n in enumerate(facts["nodes"]) if n["node"] == int(args[0]))
        del facts["nodes"][i]
        facts["distances"] = [row[:i] + row[i + 1:] for k, row in enumerate(facts["distances"]) if k != i]
    elif kind == "nps":
        facts["nps"] = int(args[0])
    elif kind == "memory":
        next(n for n in facts["nodes"] if n["node"] == int(args[0]))["memory_gib"] = int(args[1])
    elif kind != "slow":
        raise SystemExit("fleet-gen: unknown drift " + kind)


def probe_of(host, facts, template, cpu_model):
    group = dict(template["group"], gpus=len(facts["gpus"]), nodes=len(facts["nodes"]))
    if cpu_model:
        group["cpu_model"] = cpu_model
    extra = dict(template.get("extra", {}), generated_by="fleet-gen.py")
    return {"hostname": host, "group": group, "fingerprint": fingerprint(facts), "facts": facts, "extra": extra}


def write(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f)


def run_doc(tpl, host, stamp, factor, noise, probe):
    doc = copy.deepcopy(tpl)
    doc["timestamp"] = stamp
    doc["host"]["hostname"] = host
    doc.pop("probe", None)
    if probe is not None:
        doc["probe"] = probe
    sps = {}
    for s in doc["summary"]:
        st = s.get("steps_per_s")
        if s.get("skipped") or not st or st.get("median") is None:
            continue
        x = noise()
        for k in ("mean", "median", "min", "max"):
            if st.get(k) is not None:
                st[k] *= factor * x
        if st.get("ci95"):
            st["ci95"] = [v * factor * x for v in st["ci95"]]
        sps[s["mode"]] = st["median"]
    for s in doc["summary"]:
        if s["mode"] in sps and s["mode"] != "none" and "none" in sps and s.get("speedup_vs_none"):
            s["speedup_vs_none"]["ratio"] = sps[s["mode"]] / sps["none"]
    for c in doc.get("comparison", []):
        if c["mode"] in sps and "none" in sps:
            c["speedup"] = sps[c["mode"]] / sps["none"]
    return doc


def bw_doc(facts, factor, noise, probe):
    rows = [n["node"] for n in facts["nodes"] if n["has_cpus"]]
    cols = [g["index"] for g in facts["gpus"]]
    gnodes = [-1 if g["node"] is None else g["node"] for g in facts["gpus"]]

    def cell(local, remote, r, c):
        v = (local if gnodes[c] == r else remote) * factor * noise()
        return {"median": v, "mean": v, "min": v * 0.98, "max": v * 1.02, "cv": 0.01, "samples": [v] * 3,
                "placed": True}

    def mat(local, remote):
        return [[cell(local, remote, r, c) for c in range(len(cols))] for r in rows]

    d = {"schema_version": 1, "command": "bw", "backend": "cuda", "pin": "register", "bytes": 67108864,
         "repeat": 3, "rows_cpu_nodes": rows, "cols_gpus": cols, "gpu_nodes": gnodes, "unit": "GB/s",
         "h2d": {"alone": mat(24.0, 19.0), "all_at_once": mat(12.0, 9.0), "all_at_once_total": [0] * len(rows)},
         "d2h": {"alone": mat(26.0, 20.0), "all_at_once": mat(13.0, 10.0), "all_at_once_total": [0] * len(rows)}}
    if probe is not None:
        d["probe"] = probe
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--probe", required=True)
    ap.add_argument("--template", required=True)
    ap.add_argument("--hosts", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--bw", action="store_true")
    ap.add_argument("--cv", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--inject", action="append", default=[])
    ap.add_argument("--old", type=int, default=0)
    ap.add_argument("--prefix", default="node")
    ap.add_argument("--cpu-model", default=None)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    sigma = math.sqrt(math.log(1 + a.cv * a.cv))

    def noise():
        return rnd.lognormvariate(-sigma * sigma / 2, sigma)

    base = json.load(open(a.probe))["probe"]
    tpl = json.load(open(a.template))
    drifts = {}
    for spec in a.inject:
        host, what = spec.split("=", 1)
        parts = what.split(":")
        drifts.setdefault(host, []).append((parts[0], parts[1:]))
    os.makedirs(a.out, exist_ok=True)
    for i in range(a.hosts + a.old):
        host = "%s-%03d" % (a.prefix, i)
        facts = live_facts(base)
        factor = 1.0
        for kind, args in drifts.get(host, []):
            inject(facts, kind, args)
            if kind == "slow":
                factor *= float(args[0])
        old = i >= a.hosts
        probe = None if old else probe_of(host, facts, base, a.cpu_model)
        d = os.path.join(a.out, host)
        os.makedirs(d, exist_ok=True)
        for r in range(a.repeats):
            stamp = "2026-12-01T%02d:%02d:%02dZ" % (r // 3600 % 24, r // 60 % 60, r % 60)
            write(os.path.join(d, "run-%d.json" % r), run_doc(tpl, host, stamp, factor, noise, probe))
        if old:
            continue
        write(os.path.join(d, "probe.json"),
              {"schema_version": 1, "tool": "numabench", "kind": "probe", "version": "fleet-gen",
               "timestamp": "2026-12-01T00:00:00Z", "probe": probe})
        if a.bw:
            write(os.path.join(d, "bw.json"), bw_doc(facts, factor, noise, probe))


if __name__ == "__main__":
    main()
