"""Real services on 127.0.0.1 for the cluster tests: a one-node SLURM, PostgreSQL and MLflow tracking servers.

Each is started by the tests, in a temporary directory, and stopped by its PID.
They need root and Debian's packages (``.ci/run`` installs them):
munge, slurmctld, slurmd, slurm-client and postgresql.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
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

    The directory is made directly under the system temp dir: ``postgres`` cannot
    enter pytest's root-only temporary directories.
    """

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="captioning-pg-"))
        self.data = self.root / "pgdata"
        self.port = free_port()
        self.started = False

    def _as_postgres(self, *cmd, check=True):
        res = subprocess.run(list(cmd), user="postgres", capture_output=True, text=True, cwd=self.root)
        if check and res.returncode:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {res.stderr.strip()[-1000:]}")
        return res

    def start(self) -> None:
        shutil.chown(self.root, "postgres", "postgres")
        self._as_postgres(pg_bin("initdb"), "-N", "-A", "trust", "-U", "postgres", "-D", str(self.data))
        opts = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c fsync=off"
        self._as_postgres(
            pg_bin("pg_ctl"), "-D", str(self.data), "-w", "-l", str(self.root / "pg.log"), "-o", opts, "start"
        )
        self.started = True

    def create_database(self, name: str) -> str:
        """A new database; returns its SQLAlchemy URL with the psycopg (3) driver."""
        self._as_postgres(pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        if self.started:
            self._as_postgres(pg_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop", check=False)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


class TrackingServer:
    """The README's `captioning-tracking-server` command: MLflow with a PostgreSQL store and the artifact proxy."""

    def __init__(self, root: Path, backend_uri: str):
        self.root = Path(root)
        self.backend_uri = backend_uri
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "captioning.pipeline.server",
            "--backend-store-uri",
            self.backend_uri,
            "--artifacts-destination",
            str(self.root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def start(self, timeout: float = 60.0) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        log = open(self.root / "server.log", "w")
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(
            self._healthy, timeout, f"MLflow server on port {self.port} (log: {self.root / 'server.log'})", interval=0.3
        )

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"MLflow server exited: {(self.root / 'server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{self.uri}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
