"""Benchmark: N training jobs logging metrics at once to the shared tracking server, with and without logins.

    python bench/bench_tracking.py [--writers 8 32] [--batches 20] [--metrics 100] [--settings open auth auth+cache]

Needs root and Debian's PostgreSQL (as the cluster tests do). For each server
setting, a PostgreSQL-backed ``captioning-tracking-server`` on 127.0.0.1 (2 workers):

* ``open``: no logins;
* ``auth``: ``--auth --auth-cache-ttl 0`` (MLflow's default): every request's password hash checked;
* ``auth+cache``: ``--auth --auth-cache-ttl 60`` (the launcher's default): a verified login cached per worker.

and for each N, N writer processes (each a clean process with its own run and login)
send ``--batches`` ``log_batch`` requests of ``--metrics`` metrics each, as a training
job's metric sink does, all starting together. It prints requests per second (all
writers' requests over the wall time), the p95 latency of one request, and the lost
writes: metric steps sent but missing from the store afterwards (must be 0).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import services  # noqa: E402  (the test suite's PostgreSQL and tracking server)
from helpers import wait_for  # noqa: E402

WRITER = r"""
import json, sys, time
from pathlib import Path
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

uri, experiment_id, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
batches, metrics = int(sys.argv[4]), int(sys.argv[5])
client = MlflowClient(uri)
run = client.create_run(experiment_id).info.run_id
Path(str(go) + "." + run).touch()  # ready
while not go.exists():
    time.sleep(0.01)
latencies = []
for b in range(batches):
    now = int(time.time() * 1000)
    batch = [Metric("train_loss", float(i), now, b * metrics + i + 1) for i in range(metrics)]
    start = time.perf_counter()
    client.log_batch(run, metrics=batch)
    latencies.append(time.perf_counter() - start)
print(json.dumps({"run": run, "latencies": latencies}))
"""

SETTINGS = {"open": None, "auth": ("--auth-cache-ttl", "0"), "auth+cache": ("--auth-cache-ttl", "60")}


def measure(server, experiment_id: str, writers: int, batches: int, metrics: int, env: dict) -> dict:
    go = Path(tempfile.mkdtemp()) / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, server.uri, experiment_id, str(go), str(batches), str(metrics)],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(writers)
    ]
    wait_for(lambda: len(list(go.parent.glob("go.*"))) == writers, 600, f"{writers} writers to start")
    start = time.perf_counter()
    go.touch()
    results = [json.loads(p.communicate(timeout=900)[0]) for p in procs]
    wall = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit("a writer failed")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(server.uri)
    lost = sum(
        batches * metrics - len({m.step for m in client.get_metric_history(r["run"], "train_loss")}) for r in results
    )
    latencies = np.concatenate([r["latencies"] for r in results])
    return {"rps": len(latencies) / wall, "p95_ms": 1000 * np.percentile(latencies, 95), "lost": lost}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writers", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--batches", type=int, default=20)
    ap.add_argument("--metrics", type=int, default=100)
    ap.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    args = ap.parse_args()
    if services.missing():
        raise SystemExit(f"bench_tracking: {services.missing()}")
    from captioning.provenance import describe, numerics

    print(f"machine: {describe(numerics())}; {os.cpu_count()} cores")
    rows = []
    pg = services.Postgres()
    root = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    try:
        pg.start()
        for name in args.settings:
            options = SETTINGS[name]
            admin_password = secrets.token_urlsafe(16) if options else None
            server = services.TrackingServer(
                root / name, pg.create_database(name.replace("+", "_")), pg, admin_password, args=options or ()
            )
            server.start()
            try:
                env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
                if admin_password:
                    services.AuthAdmin(server).create_user("writer", "writer-password")
                    env.update(MLFLOW_TRACKING_USERNAME="writer", MLFLOW_TRACKING_PASSWORD="writer-password")
                from mlflow import MlflowClient

                # this script reads and sets up as the admin; the writers log as "writer"
                os.environ.update(
                    {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": admin_password or ""}
                )
                experiment_id = MlflowClient(server.uri).create_experiment(f"bench-{name}")
                if admin_password:
                    services.AuthAdmin(server).grant("writer", f"bench-{name}", "EDIT")
                for n in args.writers:
                    result = measure(server, experiment_id, n, args.batches, args.metrics, env)
                    rows.append((name, n, result))
                    print(
                        f"  {name:<10} N={n:<3} {result['rps']:7.1f} req/s  p95 {result['p95_ms']:7.1f} ms  "
                        f"lost {result['lost']}",
                        file=sys.stderr,
                        flush=True,
                    )
            finally:
                server.stop()
    finally:
        pg.stop()
    print("\n| server | writers | requests/s | p95 latency (ms) | lost writes |\n|---|---|---|---|---|")
    for name, n, r in rows:
        print(f"| {name} | {n} | {r['rps']:.1f} | {r['p95_ms']:.0f} | {r['lost']} |")
    total_lost = sum(r["lost"] for _, _, r in rows)
    print(
        f"\nbench_tracking: {len(rows)} measurements, {args.batches * args.metrics} metrics per writer, "
        f"{total_lost} lost writes"
    )


if __name__ == "__main__":
    main()
