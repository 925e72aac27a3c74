#!/usr/bin/env bash
# A single-node Slurm cluster (munge + slurmctld + slurmd) on this machine, for trying dlrun's
# Slurm launcher and for its tests. Needs root and the Debian/Ubuntu packages
# slurmctld slurmd slurm-client munge (`install` adds them with apt-get).
#
#   scripts/slurm_cluster.sh install            # apt-get install the packages if missing
#   scripts/slurm_cluster.sh start [STATE_DIR]  # start; prints the SLURM_CONF line to export
#   scripts/slurm_cluster.sh stop  [STATE_DIR]  # stop what `start` started
#
# Everything (slurm.conf, state, logs, pid files) lives in STATE_DIR (default /tmp/dlrun-slurm,
# or $DLRUN_SLURM_DIR); the system's /etc/slurm is not touched. Clients find the cluster through
# SLURM_CONF=STATE_DIR/slurm.conf. One node named after this host with CPUs=$(nproc), the memory
# slurmd detects, one partition `debug`; no accounting (sacct is not available).
set -euo pipefail

cmd=${1:-}
dir=$(realpath -m "${2:-${DLRUN_SLURM_DIR:-/tmp/dlrun-slurm}}")
packages="slurmctld slurmd slurm-client munge"

have_slurm() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
  && command -v sbatch >/dev/null; }

install() {
  have_slurm && return 0
  [ "$(id -u)" = 0 ] || { echo "slurm_cluster: installing needs root" >&2; return 2; }
  command -v apt-get >/dev/null || { echo "slurm_cluster: no apt-get; install $packages yourself" >&2; return 2; }
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends $packages >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends $packages >/dev/null; }
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return 0; fi  # a munged already runs
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  if id munge >/dev/null 2>&1; then
    chown munge:munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
    chmod 0400 /etc/munge/munge.key
    runuser -u munge -- munged
  else
    munged --force
  fi
  touch "$dir/started-munged"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "slurm_cluster: munged did not start" >&2; return 1
}

write_conf() {
  local host mem
  host=$(hostname -s)
  mem=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' | head -1)
  mem=$(( ${mem:-1024} * 9 / 10 ))  # leave some for the daemons
  mkdir -p "$dir/state" "$dir/spool"
  cat > "$dir/slurm.conf" <<CONF
ClusterName=dlrun
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SlurmdParameters=config_overrides
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=${DLRUN_SLURMCTLD_PORT:-6817}
SlurmdPort=${DLRUN_SLURMD_PORT:-6818}
KillWait=15
MinJobAge=600
InactiveLimit=0
SchedulerParameters=sched_interval=2,bf_interval=2
NodeName=$host CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

stop_pid() {  # stop_pid FILE: end the daemon whose pid FILE holds, if it runs
  local pid
  [ -s "$1" ] || return 0
  pid=$(cat "$1")
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

start() {
  have_slurm || { echo "slurm_cluster: Slurm is not installed (run: $0 install)" >&2; return 2; }
  [ "$(id -u)" = 0 ] || { echo "slurm_cluster: starting the daemons needs root" >&2; return 2; }
  mkdir -p "$dir"
  export SLURM_CONF=$dir/slurm.conf
  if [ -f "$dir/slurm.conf" ] && scontrol ping 2>/dev/null | grep -q UP; then
    echo "export SLURM_CONF=$SLURM_CONF"; return 0
  fi
  start_munge
  write_conf
  slurmctld -f "$SLURM_CONF" -i   # -i: ignore (and drop) stale saved state
  slurmd -f "$SLURM_CONF"
  for _ in $(seq 150); do
    if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
      echo "export SLURM_CONF=$SLURM_CONF"; return 0
    fi
    sleep 0.2
  done
  echo "slurm_cluster: the node did not become idle; see $dir/slurmctld.log and $dir/slurmd.log" >&2
  sinfo -N -l >&2 || true
  return 1
}

stop() {
  export SLURM_CONF=$dir/slurm.conf
  if [ -f "$SLURM_CONF" ] && scancel --quiet --full --user="$(id -un)" 2>/dev/null; then
    for _ in $(seq 60); do  # let slurmd end the jobs' processes before it goes
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
  stop_pid "$dir/slurmd.pid"
  stop_pid "$dir/slurmctld.pid"
  if [ -f "$dir/started-munged" ]; then
    stop_pid /run/munge/munged.pid
    rm -f "$dir/started-munged"
  fi
}

case "$cmd" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 install | start [STATE_DIR] | stop [STATE_DIR]" >&2; exit 2 ;;
esac
