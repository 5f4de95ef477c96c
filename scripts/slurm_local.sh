#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for tests/cluster/ and for trying the SLURM profile
# (workflow/profiles/slurm) without a cluster. Debian/Ubuntu, as root, no systemd needed.
#   bash scripts/slurm_local.sh start    # install (apt) if missing, write the config, start munge + slurmctld + slurmd
#   bash scripts/slurm_local.sh status   # sinfo, and the daemons' pids
#   bash scripts/slurm_local.sh stop     # stop the daemons this script started (by their pid files)
#   bash scripts/slurm_local.sh env      # the line to eval in a shell that submits jobs:  eval "$(... env)"
# Everything SLURM writes (slurm.conf, gres.conf, state, spool, logs, pid files) lies under $SKETCH3D_SLURM_DIR
# (default /tmp/sketch3d-slurm). One thing goes to /etc: the symlink /etc/slurm/slurm.conf -> that slurm.conf
# (removed by `stop`), because SLURM_CONF alone does not reach every client: Snakemake's SLURM executor runs each
# job's command with a nested `srun` after removing every SLURM_* variable, SLURM_CONF included, and srun then
# knows only the compiled-in /etc/slurm/slurm.conf. An /etc/slurm/slurm.conf that is not this symlink (a real
# cluster's) is never touched: start refuses. munge keeps the Debian package's own places (/etc/munge/munge.key,
# /run/munge), since slurm's auth/munge talks to that socket.
# The node: this machine's CPUs (at least $SKETCH3D_SLURM_MIN_CPUS, default 8, as job slots) and memory
# (slurmd -C), one partition `local`, and two fake GPUs: gres `gpu`
# on /dev/tty0 and /dev/tty1 (SLURM needs a character device per GPU; it sets CUDA_VISIBLE_DEVICES=0 or 1 for
# a --gpus=1 job, and never opens the file). Facts behind each setting: ../shared notes slurm.md (Slurm 22.05).
set -euo pipefail

DIR="${SKETCH3D_SLURM_DIR:-/tmp/sketch3d-slurm}"
CONF="$DIR/slurm.conf"
ETC_CONF=/etc/slurm/slurm.conf
MIN_SLOTS="${SKETCH3D_SLURM_MIN_CPUS:-8}"  # job slots of the node, at least (see write_config)
PACKAGES=(slurmctld slurmd slurm-client munge)
MUNGE_PID=/run/munge/munged.pid
# the pid file of the munged this script started (munged's own pid file is also used by a system munge)
OUR_MUNGE="$DIR/munged.started"

die() { echo "slurm_local.sh: $*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons); run it with sudo"
}

install_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || die "packages ${missing[*]} are missing and there is no apt-get; install them with your package manager"
  echo "slurm_local.sh: installing ${missing[*]} (apt-get, about a minute)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$DIR/apt.log" 2>&1 || die "apt-get update failed (no network to the Debian mirror?); see $DIR/apt.log"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$DIR/apt.log" 2>&1 \
    || die "apt-get install ${missing[*]} failed; see $DIR/apt.log"
}

running() {  # running PIDFILE: true when the pid in PIDFILE is alive
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

start_munge() {
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  [ -s /etc/munge/munge.key ] || die "/etc/munge/munge.key is missing; reinstall munge (apt-get install --reinstall munge) or create it with mungekey"
  chown munge:munge /run/munge /var/lib/munge /var/log/munge /etc/munge /etc/munge/munge.key
  chmod 0755 /run/munge
  if ! running "$MUNGE_PID"; then
    runuser -u munge -- munged --force || die "munged did not start; see /var/log/munge/munged.log"
    for _ in $(seq 50); do [ -s "$MUNGE_PID" ] && break; sleep 0.1; done
    cp "$MUNGE_PID" "$OUR_MUNGE"
  fi
  munge -n | unmunge >/dev/null 2>&1 || die "munge does not round-trip a credential (munge -n | unmunge); see /var/log/munge/munged.log"
}

write_config() {
  local host node_line mem
  host="$(hostname -s)"
  # slurmd -C: "NodeName=h CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=1 ThreadsPerCore=2 RealMemory=24151"
  node_line="$(slurmd -C | head -n1)"
  [[ "$node_line" == NodeName=* ]] || die "slurmd -C printed no node line: $node_line"
  mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$node_line")"
  # leave 1 GiB to the system, so that a job's memory request is one the machine can give
  mem=$(( mem > 2048 ? mem - 1024 : mem ))
  cpus="$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node_line")"
  if [ "$cpus" -lt "$MIN_SLOTS" ]; then
    # a small machine still gets MIN_SLOTS job slots (config_overrides: slurmd believes the config, not the
    # hardware), so that a test's few tiny jobs, two GPU jobs among them, run at once
    node_line="NodeName=$host CPUs=$MIN_SLOTS RealMemory=$mem"
    overrides="SlurmdParameters=config_overrides"
  else
    node_line="$(sed "s/RealMemory=[0-9]*/RealMemory=$mem/" <<<"$node_line")"
    overrides=""
  fi
  mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log"
  cat >"$CONF.tmp" <<EOF
# written by scripts/slurm_local.sh: a single-node cluster for tests (do not edit; rewritten at each start)
ClusterName=sketch3d
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# pgid, not linuxproc: a cancelled job's Snakemake, orphaned when its batch shell died first, escaped
# linuxproc's parent-pid walk once and kept running; it keeps its process group
ProctrackType=proctrack/pgid
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
GresTypes=gpu
ReturnToService=2
# without a default, a job takes the whole node's memory and jobs run one at a time
DefMemPerCPU=1000
# finished jobs stay visible to squeue for 5 min: Snakemake's SLURM executor reads their state with
# squeue (no accounting here, so no sacct) and wants MinJobAge >= 3x its first status-check interval
MinJobAge=300
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
$overrides
$node_line Gres=gpu:2 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
  cat >"$DIR/gres.conf" <<'EOF'
# two fake GPUs: slurmd drops a GPU line without File=, and the file must be a character device
AutoDetect=off
Name=gpu File=/dev/tty[0-1]
EOF
  [ -c /dev/tty0 ] && [ -c /dev/tty1 ] || die "/dev/tty0 and /dev/tty1 must exist as character devices (the fake GPUs' files)"
  link_etc_conf
}

link_etc_conf() {
  if [ -e "$ETC_CONF" ] || [ -L "$ETC_CONF" ]; then
    [ "$(readlink "$ETC_CONF" || true)" = "$CONF" ] && return 0
    die "$ETC_CONF exists and is not this script's symlink to $CONF (a real cluster's config?); left alone: stop that cluster and move the file away, or use this machine's cluster instead"
  fi
  mkdir -p "$(dirname "$ETC_CONF")"
  ln -s "$CONF" "$ETC_CONF"
}

wait_idle() {
  for _ in $(seq 60); do
    state="$(SLURM_CONF="$CONF" sinfo -h -o %T 2>/dev/null | head -n1 || true)"
    case "$state" in idle|mixed|allocated) return 0 ;; esac
    sleep 1
  done
  die "the node did not become idle within 60 s (sinfo: '${state:-no answer}'); see $DIR/log/slurmctld.log and slurmd.log"
}

cmd_start() {
  need_root
  mkdir -p "$DIR"
  install_packages
  start_munge
  if running "$DIR/slurmctld.pid" && running "$DIR/slurmd.pid"; then
    link_etc_conf; wait_idle; echo "slurm_local.sh: already running ($DIR)"; return 0
  fi
  write_config
  running "$DIR/slurmctld.pid" || slurmctld -i -f "$CONF" || die "slurmctld did not start; see $DIR/log/slurmctld.log"
  running "$DIR/slurmd.pid" || slurmd -f "$CONF" || die "slurmd did not start; see $DIR/log/slurmd.log"
  wait_idle
  echo "slurm_local.sh: up: node $(hostname -s), 2 fake GPUs, config $CONF (linked from $ETC_CONF)"
}

stop_pidfile() {  # stop_pidfile NAME PIDFILE
  local pid
  running "$2" || { rm -f "$2"; return 0; }
  pid="$(cat "$2")"
  kill "$pid"
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || { rm -f "$2"; return 0; }; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$2"
  echo "slurm_local.sh: $1 ($pid) needed SIGKILL" >&2
}

cmd_stop() {
  need_root
  stop_pidfile slurmd "$DIR/slurmd.pid"
  stop_pidfile slurmctld "$DIR/slurmctld.pid"
  # munged only if this script started it (a system munge is left alone)
  if running "$OUR_MUNGE" && [ "$(cat "$OUR_MUNGE")" = "$(cat "$MUNGE_PID" 2>/dev/null)" ]; then
    stop_pidfile munged "$OUR_MUNGE"
  fi
  rm -f "$OUR_MUNGE"
  if [ "$(readlink "$ETC_CONF" 2>/dev/null || true)" = "$CONF" ]; then rm -f "$ETC_CONF"; fi
  echo "slurm_local.sh: stopped"
}

cmd_status() {
  local rc=0
  for d in slurmctld slurmd; do
    if running "$DIR/$d.pid"; then echo "$d: running (pid $(cat "$DIR/$d.pid"))"; else echo "$d: not running"; rc=1; fi
  done
  if running "$MUNGE_PID"; then echo "munged: running (pid $(cat "$MUNGE_PID"))"; else echo "munged: not running"; rc=1; fi
  [ $rc = 0 ] && SLURM_CONF="$CONF" sinfo
  return $rc
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *) echo "usage: bash scripts/slurm_local.sh start|stop|status|env" >&2; exit 2 ;;
esac
