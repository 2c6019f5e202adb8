"""A single-node Slurm cluster on this machine for the real-Slurm tests (Debian's slurm-wlm and
munge, as root): a munge key, a minimal slurm.conf naming this host with its CPUs and memory,
then munged, slurmctld and slurmd. :func:`start` returns None once ``sinfo`` shows the node idle,
else why not (the tests skip with that reason); :func:`stop` ends what :func:`start` started."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CONF = Path("/etc/slurm/slurm.conf")
MARK = "# written by rdpbench's tests/slurm_node.py"
_started: list[str] = []


def _idle() -> bool:
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
    return state.returncode == 0 and bool({"idle", "mix"} & set(state.stdout.split()))


def _config(host: str) -> str:
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20)
    return f"""{MARK}
ClusterName=rdpbench-test
SlurmctldHost={host}
AuthType=auth/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
NodeName={host} CPUs={os.cpu_count()} RealMemory={memory_mb * 3 // 4} State=UNKNOWN
PartitionName=rdpbench Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def start(timeout_s: float = 60) -> str | None:
    """Start the node (or find it running); None when it is idle, else the reason it is not."""
    tools = ["munged", "slurmctld", "slurmd", "sinfo", "sbatch", "scancel"]
    if missing := [t for t in tools if not shutil.which(t) and not Path("/usr/sbin", t).exists()]:
        return f"no Slurm here ({', '.join(missing)} not installed: apt-get install slurm-wlm munge)"
    if shutil.which("sinfo") and _idle():
        return None
    if os.geteuid() != 0:
        return "Slurm is installed but not running, and starting a single-node Slurm needs root"
    if CONF.exists() and MARK not in CONF.read_text():
        return f"{CONF} is this machine's own Slurm configuration; not touched (start its daemons to run the test)"
    host = socket.gethostname()
    CONF.parent.mkdir(parents=True, exist_ok=True)
    CONF.write_text(_config(host))
    for folder in ("/var/spool/slurmctld", "/var/spool/slurmd", "/var/log/slurm"):
        Path(folder).mkdir(parents=True, exist_ok=True)
    key = Path("/etc/munge/munge.key")
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.write_bytes(os.urandom(1024))
    for folder in ("/run/munge", "/var/lib/munge", "/var/log/munge", "/etc/munge"):
        Path(folder).mkdir(parents=True, exist_ok=True)
        shutil.chown(folder, "munge", "munge")
    shutil.chown(key, "munge", "munge")
    key.chmod(0o400)
    commands = {"munged": ["runuser", "-u", "munge", "--", "/usr/sbin/munged"],
                "slurmctld": ["/usr/sbin/slurmctld"], "slurmd": ["/usr/sbin/slurmd"]}
    for name, command in commands.items():
        if subprocess.run(["pgrep", "-x", name], capture_output=True).returncode == 0:
            continue
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            return f"{name} did not start: {(done.stderr or done.stdout).strip()[-300:]}"
        _started.append(name)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if _idle():
            return None
        time.sleep(0.5)
    return "Slurm started but its node did not become idle within a minute"


PID_FILES = {"munged": "/run/munge/munged.pid", "slurmctld": "/run/slurmctld.pid", "slurmd": "/run/slurmd.pid"}


def stop() -> None:
    """Stop the daemons :func:`start` started (newest first), by the pids in their pid files."""
    for name in reversed(_started):
        try:
            os.kill(int(Path(PID_FILES[name]).read_text().split()[0]), 15)
        except (OSError, ValueError, IndexError):
            pass
    _started.clear()
