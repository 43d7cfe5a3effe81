"""Real services on 127.0.0.1 for the cluster tests: a one-node SLURM, PostgreSQL and MLflow tracking servers.

Each is started by the tests, in a temporary directory, and stopped by its PID.
They need root and Debian's packages (``.ci/run`` installs them):
munge, slurmctld, slurmd, slurm-client and postgresql.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

from helpers import free_port, stop, wait_for

SLURM_CONF = Path("/etc/slurm/slurm.conf")  # the job step's srun reads only the default path
MUNGE_SOCKET_DIR = Path("/run/munge")


def missing() -> str | None:
    """Why these services cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (to run munged, slurmd and PostgreSQL)"
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "sinfo"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            return f"needs SLURM: `{tool}` is not installed (apt-get install munge slurmctld slurmd slurm-client)"
    if shutil.which("openssl") is None:
        return "needs openssl (apt-get install openssl) for the TLS certificates"
    if not pg_bin("initdb"):
        return "needs PostgreSQL: initdb is not installed (apt-get install postgresql)"
    return None


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


def munge_works() -> bool:
    return subprocess.run(["munge", "-n"], capture_output=True).returncode == 0


class Slurm:
    """slurmctld + slurmd (+ munged) for one node on 127.0.0.1, with its CPUs and a little less than its memory."""

    def __init__(self, root: Path, cpus: int | None = None):
        self.root = Path(root)
        self.cpus = cpus or os.cpu_count()
        self.host = socket.gethostname().split(".")[0]
        self.procs: list[subprocess.Popen] = []
        self.jobcomp = self.root / "jobcomp.txt"
        self._previous_conf = None

    def config(self) -> str:
        free_mb = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
        r = self.root
        return "\n".join(
            [
                "ClusterName=loopback",
                f"SlurmctldHost={self.host}(127.0.0.1)",
                "SlurmUser=root",
                "AuthType=auth/munge",
                f"StateSaveLocation={r}/state",
                f"SlurmdSpoolDir={r}/spool",
                f"SlurmctldPidFile={r}/slurmctld.pid",
                f"SlurmdPidFile={r}/slurmd.pid",
                f"SlurmctldLogFile={r}/slurmctld.log",
                f"SlurmdLogFile={r}/slurmd.log",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "MpiDefault=none",
                "MailProg=/bin/true",
                "SchedulerType=sched/backfill",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core_Memory",
                "DefMemPerCPU=500",
                "ReturnToService=2",
                "MinJobAge=120",  # squeue remembers finished jobs this long (the status checks need >= 3 x 20 s)
                "KillWait=10",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/filetxt",  # one line per finished job: what SLURM itself ran
                f"JobCompLoc={self.jobcomp}",
                "SlurmdParameters=config_overrides",  # the node may offer more CPUs than the machine has
                f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={int(free_mb * 0.8)}",
                f"PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )

    def start(self, timeout: float = 30.0) -> None:
        for d in ("state", "spool"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        conf = self.root / "slurm.conf"
        conf.write_text(self.config())
        SLURM_CONF.parent.mkdir(parents=True, exist_ok=True)
        if SLURM_CONF.exists() or SLURM_CONF.is_symlink():
            self._previous_conf = self.root / "slurm.conf.previous"
            shutil.move(SLURM_CONF, self._previous_conf)
        SLURM_CONF.symlink_to(conf)
        if not munge_works():  # a munged started by the package's install script is used as it is
            MUNGE_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
            shutil.chown(MUNGE_SOCKET_DIR, "munge", "munge")
            self._spawn(["/usr/sbin/munged", "--foreground", "--force"], user="munge")
            wait_for(munge_works, 10, "munged")
        self._spawn(["/usr/sbin/slurmctld", "-D", "-f", str(conf)])
        self._spawn(["/usr/sbin/slurmd", "-D", "-f", str(conf)])
        wait_for(self.idle, timeout, "SLURM node", interval=0.3)

    def _spawn(self, cmd, user=None) -> None:
        log = open(self.root / f"{Path(cmd[0]).name}.out", "w")
        self.procs.append(
            subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, user=user)
        )

    def idle(self) -> bool:
        res = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
        return res.stdout.strip() == "idle"

    def finished_jobs(self) -> list[dict]:
        """The job completion records (jobcomp/filetxt), one dict per job SLURM ran."""
        if not self.jobcomp.exists():
            return []
        rows = []
        for line in self.jobcomp.read_text().splitlines():
            rows.append(dict(field.split("=", 1) for field in line.split() if "=" in field))
        return rows

    def stop(self) -> None:
        subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True, timeout=30)
        for proc in reversed(self.procs):
            stop(proc)
        self.procs.clear()
        if SLURM_CONF.is_symlink():
            SLURM_CONF.unlink()
        if self._previous_conf is not None:
            shutil.move(self._previous_conf, SLURM_CONF)


class Postgres:
    """A PostgreSQL cluster owned by ``postgres`` in a temporary directory, listening on 127.0.0.1 only.

    Logins need the password (scram-sha-256); it travels in ``PGPASSWORD``
    (:meth:`env`), never in a URI or on a command line. The directory is made
    directly under the system temp dir: ``postgres`` cannot enter pytest's
    root-only temporary directories.
    """

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="captioning-pg-"))
        self.data = self.root / "pgdata"
        self.port = free_port()
        self.password = secrets.token_urlsafe(18)
        self.started = False

    def env(self, base: dict | None = None) -> dict:
        """``base`` (default: this process's environment) plus the password for libpq."""
        return {**(os.environ if base is None else base), "PGPASSWORD": self.password}

    def _as_postgres(self, *cmd, check=True):
        res = subprocess.run(list(cmd), user="postgres", capture_output=True, text=True, cwd=self.root, env=self.env())
        if check and res.returncode:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {res.stderr.strip()[-1000:]}")
        return res

    def start(self) -> None:
        shutil.chown(self.root, "postgres", "postgres")
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        os.chmod(pwfile, 0o600)
        self._as_postgres(
            pg_bin("initdb"), "-N", "-A", "scram-sha-256", "--pwfile", str(pwfile), "-U", "postgres", "-D",
            str(self.data),
        )  # fmt: skip
        pwfile.unlink()
        opts = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c fsync=off"
        self._as_postgres(
            pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.root / "pg.log"), "-o", opts, "start"
        )
        self.started = True

    def create_database(self, name: str) -> str:
        """A new database; returns its SQLAlchemy URL with the psycopg (3) driver, without the password."""
        self._as_postgres(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.started:
            self._as_postgres(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with openssl; (certfile, keyfile)."""
    cert, key = directory / "server.crt", directory / "server.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class TrackingServer:
    """The `captioning-tracking-server` command of docs/cluster.md: MLflow, a PostgreSQL store, the artifact proxy.

    With ``admin_password``, it runs ``--auth`` (the password in a mode-0600 file);
    with ``tls`` (certfile, keyfile), it serves HTTPS.
    """

    def __init__(self, root: Path, backend_uri: str, pg: Postgres, admin_password=None, tls=None, args=()):
        self.root = Path(root)
        self.backend_uri = backend_uri
        self.pg = pg
        self.admin_password = admin_password
        self.tls = tls
        self.args = tuple(args)
        self.port = free_port()
        self.uri = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.proc = None

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "captioning.pipeline.server",
            "--backend-store-uri", self.backend_uri,
            "--artifacts-destination", str(self.root / "artifacts"),
            "--host", "127.0.0.1", "--port", str(self.port), *self.args,
        ]  # fmt: skip
        if self.admin_password:
            secret = self.root / "admin-password"
            with open(os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
                f.write(self.admin_password + "\n")
            cmd += ["--auth", "--admin-password-file", str(secret)]
        if self.tls:
            cmd += ["--tls-certfile", str(self.tls[0]), "--tls-keyfile", str(self.tls[1])]
        return cmd

    def start(self, timeout: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        cmd = self.command()
        log = open(self.root / "server.log", "a")
        env = self.pg.env({k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")})
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        wait_for(
            self._healthy, timeout, f"MLflow server on port {self.port} (log: {self.root / 'server.log'})", interval=0.3
        )

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"MLflow server exited: {(self.root / 'server.log').read_text()[-2000:]}")
        context = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else None
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2, context=context) as r:
                return r.status == 200
        except OSError:
            return False

    def processes(self) -> list[int]:
        """The PIDs of the server's session: the launcher (now ``mlflow server``) and its workers."""
        pids = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and os.getsid(int(entry.name)) == self.proc.pid:
                    pids.append(int(entry.name))
            except OSError:
                continue
        return pids

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=3)  # MLflow's graceful shutdown takes 10-15 s; the store is a test's

    def kill(self) -> None:
        """A crash: SIGKILL to the server's whole process group, at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(5)


class AuthAdmin:
    """The admin of a ``--auth`` server, through MLflow's REST API for users and permissions."""

    def __init__(self, server: TrackingServer, username: str = "admin"):
        self.server, self.auth = server, (username, server.admin_password)

    def call(self, method: str, endpoint: str, version: int = 2, **json_body) -> dict:
        import requests

        verify = str(self.server.tls[0]) if self.server.tls else True
        url = f"{self.server.uri}/api/{version}.0/mlflow/{endpoint}"
        r = requests.request(method, url, json=json_body, auth=self.auth, verify=verify, timeout=30)
        r.raise_for_status()
        return r.json() if r.content else {}

    def create_user(self, username: str, password: str) -> None:
        self.call("POST", "users/create", username=username, password=password)

    def experiment(self, name: str) -> str:
        """The id of experiment ``name``, created by the admin if it does not exist."""
        import requests

        try:
            return self.call("GET", f"experiments/get-by-name?{urllib.parse.urlencode({'experiment_name': name})}")[
                "experiment"
            ]["experiment_id"]
        except requests.HTTPError:
            return self.call("POST", "experiments/create", name=name)["experiment_id"]

    def grant(self, username: str, experiment: str, permission: str) -> str:
        experiment_id = self.experiment(experiment)
        self.call(
            "POST", "users/permissions/grant", version=3, username=username, resource_type="experiment",
            resource_id=experiment_id, permission=permission,
        )  # fmt: skip
        return experiment_id
