"""A shared MLflow tracking server the way a lab runs it: PostgreSQL store, artifact proxy, allowed host names.

    captioning-tracking-server --backend-store-uri postgresql+psycopg://mlflow@db.example.org/mlflow \\
        --artifacts-destination /srv/mlflow/artifacts --host 0.0.0.0 --port 5000

It checks what would otherwise fail later with a traceback (the database driver,
the database, the artifact directory), prints the ``mlflow server`` command it
runs, and replaces itself with it:

* ``--serve-artifacts --artifacts-destination``: runs get ``mlflow-artifacts:/``
  URIs and upload through the server, so compute nodes need no shared directory;
* ``--allowed-hosts``: MLflow >= 3.5 answers HTTP 403 to any Host header but
  localhost and private IPs; the default here adds this machine's names;
* ``--workers`` and ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: a small server
  without MLflow's job runner starts in seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from pathlib import Path

from ..errors import CaptioningError
from .tracking import check_uri, redact


class ServerError(CaptioningError):
    """The tracking server cannot start: the message names the setting."""


def allowed_hosts(host: str, port: int) -> str:
    """The Host headers clients may use: this machine's names, localhost and loopback, each with the port."""
    names = {"localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn()}
    if host not in ("0.0.0.0", "::"):
        names.add(host)
    return ",".join(f"{n}:{port}" for n in sorted(names)) + "," + ",".join(sorted(names))


def server_command(backend_uri: str, artifacts: Path, host: str, port: int, hosts: str, workers: int) -> list[str]:
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    return [
        mlflow, "server",
        "--backend-store-uri", backend_uri,
        "--serve-artifacts", "--artifacts-destination", str(artifacts),
        "--host", host, "--port", str(port),
        "--allowed-hosts", hosts,
        "--workers", str(workers),
    ]  # fmt: skip


def check_database(uri: str, timeout: int = 5) -> None:
    """Connect once with a short timeout; one line naming the URI if that fails."""
    check_uri(uri)  # the driver is installed
    if not uri.startswith(("postgresql", "mysql")):
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, connect_args={"connect_timeout": timeout})
    try:
        with engine.connect():
            pass
    except sqlalchemy.exc.SQLAlchemyError as err:
        first = str(err.orig if getattr(err, "orig", None) else err).strip().splitlines()[0]
        raise ServerError(f"--backend-store-uri {redact(uri)}: cannot connect ({first})") from None
    finally:
        engine.dispose()


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="captioning-tracking-server", description=__doc__.splitlines()[0])
    ap.add_argument("--backend-store-uri", required=True, help="postgresql+psycopg://user@host:port/db")
    ap.add_argument("--artifacts-destination", required=True, type=Path, help="where the server stores artifacts")
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--allowed-hosts", help="Host headers to accept (default: this machine's names and localhost)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        check_database(args.backend_store_uri)
        try:
            args.artifacts_destination.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ServerError(f"--artifacts-destination {args.artifacts_destination}: {err.strerror}") from None
    except CaptioningError as err:
        sys.exit(f"captioning-tracking-server: {err}")
    hosts = args.allowed_hosts or allowed_hosts(args.host, args.port)
    cmd = server_command(
        args.backend_store_uri, args.artifacts_destination.resolve(), args.host, args.port, hosts, args.workers
    )
    print(" ".join(redact(c) for c in cmd), flush=True)
    env = dict(os.environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main()
