#!/usr/bin/env bash
# Starts a real single-node Slurm on this machine (as root): munged, slurmctld and slurmd, with process tracking
# by /proc (proctrack/linuxproc, task/none: no cgroups needed), state and spool under a temporary folder, the
# node's CPUs from nproc and its memory from /proc/meminfo. Writes /etc/slurm/slurm.conf (the file every Slurm
# client reads). Exits non-zero when any daemon does not come up or the node is not idle within a minute.
# Needs Debian's slurm-wlm and munge (`.ci/run` installs them). Idempotent: a running cluster is left alone.
set -euo pipefail

if sinfo -h -o '%T' 2>/dev/null | grep -Eq 'idle|mixed|alloc'; then
  echo "start-slurm: Slurm already answers"; exit 0
fi
[ "$(id -u)" = 0 ] || { echo "start-slurm: must run as root" >&2; exit 1; }
for cmd in munged slurmctld slurmd sinfo sbatch; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || { echo "start-slurm: $cmd not installed (apt-get install slurm-wlm munge)" >&2; exit 1; }
done

STATE=${SLURM_CI_DIR:-$(mktemp -d /tmp/coreg-slurm.XXXXXX)}
mkdir -p "$STATE/state" "$STATE/spool" "$STATE/log"
HOST=$(hostname -s)
CPUS=$(nproc)
# Leave a quarter of the memory (at most 2 GB) to the system.
MEM_MB=$(awk '/MemTotal/ { m = int($2 / 1024); r = int(m / 4); if (r > 2048) r = 2048; print m - r }' /proc/meminfo)

# munge: the key comes with Debian's package; create one if it does not.
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- /usr/sbin/munged
  else
    /usr/sbin/munged --force
  fi
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.2; done
  munge -n | unmunge >/dev/null || { echo "start-slurm: munged does not answer" >&2; exit 1; }
fi

mkdir -p /etc/slurm
cat > /etc/slurm/slurm.conf <<CONF
# Written by coreg's .ci/start-slurm.sh: a single-node CI cluster (no accounting database).
ClusterName=coreg-ci
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
StateSaveLocation=$STATE/state
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
MaxArraySize=10001
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=ci Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF

/usr/sbin/slurmctld -c   # -c: a clean start (no jobs from an earlier state folder)
for _ in $(seq 50); do scontrol ping 2>/dev/null | grep -q 'is UP' && break; sleep 0.2; done
scontrol ping | grep -q 'is UP' || { echo "start-slurm: slurmctld did not start; see $STATE/log/slurmctld.log" >&2; tail -n 20 "$STATE/log/slurmctld.log" >&2 || true; exit 1; }
/usr/sbin/slurmd
for _ in $(seq 120); do
  sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)' && break
  sleep 0.5
done
if ! sinfo -h -o '%T' | grep -Eq '^(idle|mixed|allocated)'; then
  echo "start-slurm: the node did not become idle; see $STATE/log/slurmd.log" >&2
  sinfo >&2 || true
  tail -n 20 "$STATE/log/slurmd.log" >&2 || true
  exit 1
fi
echo "start-slurm: Slurm up on $HOST ($CPUS CPUs, $MEM_MB MB), state in $STATE"
