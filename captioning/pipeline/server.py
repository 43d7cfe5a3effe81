"""A shared MLflow tracking server the way a lab runs it: PostgreSQL store, artifact proxy, logins, TLS.

    export PGPASSWORD=...                    # or a line in ~/.pgpass; never in the URI
    export MLFLOW_AUTH_ADMIN_PASSWORD=...    # or --admin-password-file, mode 0600
    captioning-tracking-server --backend-store-uri postgresql+psycopg://mlflow@db.example.org/mlflow \\
        --artifacts-destination /srv/mlflow/artifacts --host 0.0.0.0 --port 5000 \\
        --auth --tls-certfile server.crt --tls-keyfile server.key

It checks what would otherwise fail later with a traceback (the database driver,
the database, the artifact directory, the secrets and their files), prints the
``mlflow server`` command it runs, and replaces itself with it:

* no secret is on a command line (``ps`` shows command lines to every user): the
  database password comes from ``PGPASSWORD`` or ``~/.pgpass`` (libpq reads both),
  or the whole URI from ``MLFLOW_BACKEND_STORE_URI``, which ``mlflow server`` reads;
  a URI with a password given as an argument is refused;
* ``--auth``: MLflow's basic-auth app, its users and permissions in the same
  database, its settings in a file only the owner can read; the admin password
  comes from ``MLFLOW_AUTH_ADMIN_PASSWORD`` or ``--admin-password-file``, and
  the app's CSRF key from ``MLFLOW_FLASK_SERVER_SECRET_KEY`` or a mode-0600 file
  made once beside the settings;
* ``--tls-certfile/--tls-keyfile``: uvicorn serves HTTPS; clients trust the
  certificate through ``MLFLOW_TRACKING_SERVER_CERT_PATH``;
* ``--serve-artifacts --artifacts-destination``: runs get ``mlflow-artifacts:/``
  URIs and upload through the server, so compute nodes need no shared directory;
* ``--allowed-hosts``: MLflow answers HTTP 403 to a request whose Host header is
  not listed (``/health`` excepted). The default list is this machine's names,
  ``localhost`` and ``127.0.0.1``, each with and without the port; a list given
  replaces it. (Without the flag MLflow would also admit every private IP range.)
* ``--workers`` and ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: a small server
  without MLflow's job runner starts in seconds.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import socket
import stat
import sys
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_path
from ..errors import CaptioningError
from .tracking import check_uri, redact

BACKEND_VARIABLE = "MLFLOW_BACKEND_STORE_URI"  # read by `mlflow server` itself
ADMIN_PASSWORD_VARIABLE = "MLFLOW_AUTH_ADMIN_PASSWORD"  # read by MLflow's auth app on its first start
AUTH_CONFIG_VARIABLE = "MLFLOW_AUTH_CONFIG_PATH"
SECRET_KEY_VARIABLE = "MLFLOW_FLASK_SERVER_SECRET_KEY"  # the auth app's CSRF protection
PERMISSIONS = ("READ", "EDIT", "MANAGE", "NO_PERMISSIONS")


class ServerError(CaptioningError):
    """The tracking server cannot start: the message names the setting."""


@dataclass(frozen=True)
class AuthSettings:
    """MLflow's basic-auth app: who may do what, and where the users live."""

    config: Path
    default_permission: str = "READ"
    admin_username: str = "admin"
    cache_ttl_seconds: int = 60

    def ini(self, database_uri: str) -> str:
        return (
            "[mlflow]\n"
            f"default_permission = {self.default_permission}\n"
            f"database_uri = {database_uri}\n"
            f"admin_username = {self.admin_username}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            f"auth_cache_ttl_seconds = {self.cache_ttl_seconds}\n"
        )

    def write(self, database_uri: str) -> None:
        """The auth app's settings, mode 0600 from creation on (the URI may hold the database password)."""
        with atomic_path(self.config, mode=0o600) as tmp:
            tmp.write_text(self.ini(database_uri))


def allowed_hosts(host: str, port: int) -> str:
    """The Host headers clients may use: this machine's names, localhost and loopback, each with the port."""
    names = {"localhost", "127.0.0.1", socket.gethostname(), socket.getfqdn()}
    if host not in ("0.0.0.0", "::"):
        names.add(host)
    return ",".join(f"{n}:{port}" for n in sorted(names)) + "," + ",".join(sorted(names))


def server_command(
    artifacts: Path, host: str, port: int, hosts: str, workers: int, auth: bool = False, tls=None
) -> list[str]:
    """``mlflow server`` with everything but the store, which travels in the environment."""
    mlflow = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    cmd = [
        mlflow, "server",
        "--serve-artifacts", "--artifacts-destination", str(artifacts),
        "--host", host, "--port", str(port),
        "--allowed-hosts", hosts,
        "--workers", str(workers),
    ]  # fmt: skip
    if auth:
        cmd += ["--app-name", "basic-auth"]
    if tls:
        cmd += ["--uvicorn-opts", f"--ssl-certfile {shlex.quote(str(tls[0]))} --ssl-keyfile {shlex.quote(str(tls[1]))}"]
    return cmd


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
        hint = " (the password comes from PGPASSWORD or ~/.pgpass)" if "password" in first else ""
        raise ServerError(f"--backend-store-uri {redact(uri)}: cannot connect ({first}){hint}") from None
    finally:
        engine.dispose()


def backend_uri(argument: str | None, environ) -> str:
    """The store's URI: the argument if it holds no password, else ``MLFLOW_BACKEND_STORE_URI``."""
    if argument is None:
        uri = environ.get(BACKEND_VARIABLE)
        if not uri:
            raise ServerError(f"--backend-store-uri: not given and {BACKEND_VARIABLE} is not set")
        return uri
    if urllib.parse.urlsplit(argument).password is not None:
        raise ServerError(
            f"--backend-store-uri {redact(argument)}: a password on the command line is visible to every user "
            f"(ps); put it in PGPASSWORD or ~/.pgpass, or pass the whole URI in {BACKEND_VARIABLE}"
        )
    return argument


def owner_only_secret(path: Path, what: str) -> str:
    """The first line of a file that only its owner can read; one line naming the file otherwise."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ServerError(f"{what} {path}: mode {stat.filemode(mode)} lets others read it; chmod 600 {path}")
        secret = path.read_text().strip().splitlines()
    except OSError as err:
        raise ServerError(f"{what} {path}: {err.strerror}") from None
    if not secret or not secret[0]:
        raise ServerError(f"{what} {path}: the file is empty; expected the password on its first line")
    return secret[0]


def persistent_secret(path: Path) -> str:
    """A random key kept in ``path`` (mode 0600, made on first use), so that a restart keeps it."""
    if not path.exists():
        with atomic_path(path, mode=0o600) as tmp:
            tmp.write_text(secrets.token_hex(32) + "\n")
    return owner_only_secret(path, "the server's secret key")


def readable_file(path: Path, what: str) -> Path:
    try:
        with open(path, "rb"):
            pass
    except OSError as err:
        raise ServerError(f"{what} {path}: {err.strerror}") from None
    return path.resolve()


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="captioning-tracking-server", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--backend-store-uri",
        help=f"postgresql+psycopg://user@host:port/db, without password (default: ${BACKEND_VARIABLE})",
    )
    ap.add_argument("--artifacts-destination", required=True, type=Path, help="where the server stores artifacts")
    ap.add_argument("--host", default="0.0.0.0")
    ap.add_argument("--port", type=int, default=5000)
    ap.add_argument("--allowed-hosts", help="Host headers to accept (default: this machine's names and localhost)")
    ap.add_argument("--workers", type=int, default=2)
    auth = ap.add_argument_group("authentication (MLflow's basic-auth app)")
    auth.add_argument("--auth", action="store_true", help="require a login; users and permissions in the same store")
    auth.add_argument(
        "--default-permission",
        choices=PERMISSIONS,
        default="READ",
        help="what every user may do to experiments not granted to them (default READ)",
    )
    auth.add_argument("--admin-username", default="admin")
    auth.add_argument(
        "--admin-password-file",
        type=Path,
        help=f"a mode-0600 file holding the admin password (default: ${ADMIN_PASSWORD_VARIABLE})",
    )
    auth.add_argument(
        "--auth-config",
        type=Path,
        help="where to write the auth app's settings, mode 0600 (default: basic_auth.ini beside the artifacts)",
    )
    auth.add_argument(
        "--auth-cache-ttl",
        type=int,
        default=60,
        help="seconds a verified login is cached per worker (0: off, MLflow's default; a changed password or a "
        "deleted user may pass that long); 60 keeps an auth server near an open one's throughput",
    )
    tls = ap.add_argument_group("TLS (uvicorn)")
    tls.add_argument("--tls-certfile", type=Path, help="the server's certificate (PEM)")
    tls.add_argument("--tls-keyfile", type=Path, help="its private key (PEM)")
    return ap


def prepare(args, environ) -> tuple[list[str], dict]:
    """Check every setting, write the auth file; the ``mlflow server`` command and its environment."""
    uri = backend_uri(args.backend_store_uri, environ)
    check_database(uri)
    try:
        args.artifacts_destination.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ServerError(f"--artifacts-destination {args.artifacts_destination}: {err.strerror}") from None
    env = dict(environ, MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", **{BACKEND_VARIABLE: uri})
    if (args.tls_certfile is None) != (args.tls_keyfile is None):
        raise ServerError("--tls-certfile and --tls-keyfile: give both or neither")
    tls = None
    if args.tls_certfile:
        tls = (readable_file(args.tls_certfile, "--tls-certfile"), readable_file(args.tls_keyfile, "--tls-keyfile"))
    if args.auth:
        if args.admin_password_file is not None:
            env[ADMIN_PASSWORD_VARIABLE] = owner_only_secret(args.admin_password_file, "--admin-password-file")
        elif not environ.get(ADMIN_PASSWORD_VARIABLE):
            raise ServerError(f"--auth: the admin password is missing; set {ADMIN_PASSWORD_VARIABLE} or pass "
                              "--admin-password-file (a file of mode 0600)")  # fmt: skip
        if args.auth_cache_ttl < 0:
            raise ServerError(f"--auth-cache-ttl {args.auth_cache_ttl}: expected seconds >= 0")
        settings = AuthSettings(
            config=(args.auth_config or args.artifacts_destination.resolve().parent / "basic_auth.ini"),
            default_permission=args.default_permission,
            admin_username=args.admin_username,
            cache_ttl_seconds=args.auth_cache_ttl,
        )
        settings.write(uri)
        env[AUTH_CONFIG_VARIABLE] = str(settings.config)
        if not environ.get(SECRET_KEY_VARIABLE):  # the same key for every worker and across restarts
            env[SECRET_KEY_VARIABLE] = persistent_secret(settings.config.with_name("flask_secret_key"))
    hosts = args.allowed_hosts or allowed_hosts(args.host, args.port)
    cmd = server_command(
        args.artifacts_destination.resolve(), args.host, args.port, hosts, args.workers, args.auth, tls
    )
    return cmd, env


def main(argv=None) -> None:
    args = parser().parse_args(argv)
    try:
        cmd, env = prepare(args, os.environ)
    except CaptioningError as err:
        sys.exit(f"captioning-tracking-server: {err}")
    print(f"{BACKEND_VARIABLE}={redact(env[BACKEND_VARIABLE])} {shlex.join(cmd)}", flush=True)
    os.execve(cmd[0], cmd, env)


if __name__ == "__main__":
    main()
