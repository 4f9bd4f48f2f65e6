#!/usr/bin/env bash
# Runs a satunet subcommand with Open MPI's mpirun: on this machine, or across the hosts of a
# hostfile (reached by ssh, or by --mca plm_rsh_agent), one rank per GPU or per slot.
#
#   launch/mpirun.sh -n 4 train --config configs/buildings.ini --data data/b --out runs/b
#   launch/mpirun.sh --hostfile hosts --ranks-per-node 4 --threads 8 \
#       train --config configs/buildings.ini --data data/b --out runs/b
#   launch/mpirun.sh --hostfile hosts --tcp-if 10.1.0.0/16 predict --checkpoint ... --image ...
#
# Options (before the subcommand; everything from the subcommand on goes to satunet):
#   -n, --ranks N          ranks in all (default: the hostfile's slots, else this machine's
#                          GPUs, else 2)
#   --hostfile FILE        Open MPI hostfile: one "host slots=N" line per node
#   --ranks-per-node N     ranks per node (ppr mapping; default: the hostfile's slots)
#   --threads N            cores per rank: each rank is bound to N cores and satunet gets
#                          --threads N (default: cores of this machine / ranks per node)
#   --bind core|none       bind ranks to their cores (default core)
#   --tcp-if NET           TCP traffic (MPI and Open MPI's own) only on this interface or
#                          CIDR, e.g. eth1 or 10.1.0.0/16
#   --mca KEY VALUE        passed to mpirun (repeatable)
#   --dry-run              print the mpirun command instead of running it
# Environment:
#   SATUNET_BIN  the binary (default: build/satunet of this checkout, else satunet on PATH)
#   MPIRUN       mpirun to use (default: mpirun)
#   Passed to every rank (-x): PATH, LD_LIBRARY_PATH, OMP_NUM_THREADS (= --threads) and
#   CUDA_VISIBLE_DEVICES when set, and every NCCL_*, GDAL_* and SATUNET_* variable.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}
die() {
  echo "mpirun.sh: $*" >&2
  exit 2
}

here=$(cd "$(dirname "$0")/.." && pwd)
ranks=""
hostfile=""
per_node=""
threads=""
bind=core
tcp_if=""
dry_run=0
mca=()
while (($#)); do
  case $1 in
    -h | --help) usage 0 ;;
    -n | --ranks) ranks=${2:?$1 needs a value}; shift 2 ;;
    --hostfile) hostfile=${2:?$1 needs a value}; shift 2 ;;
    --ranks-per-node) per_node=${2:?$1 needs a value}; shift 2 ;;
    --threads) threads=${2:?$1 needs a value}; shift 2 ;;
    --bind) bind=${2:?$1 needs a value}; shift 2 ;;
    --tcp-if) tcp_if=${2:?$1 needs a value}; shift 2 ;;
    --mca) mca+=(--mca "${2:?--mca needs KEY VALUE}" "${3:?--mca needs KEY VALUE}"); shift 3 ;;
    --dry-run) dry_run=1; shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
(($#)) || usage 2
for value in "$ranks" "$per_node" "$threads"; do
  [[ -z $value || $value =~ ^[1-9][0-9]*$ ]] || die "'$value' is not a positive count"
done
[[ $bind == core || $bind == none ]] || die "--bind must be core or none"

if [[ -n ${SATUNET_BIN:-} ]]; then
  binary=$SATUNET_BIN
elif [[ -x $here/build/satunet ]]; then
  binary=$here/build/satunet
else
  binary=$(command -v satunet) || die "no satunet binary: set SATUNET_BIN or build $here/build"
fi

slots=0
if [[ -n $hostfile ]]; then
  [[ -f $hostfile ]] || die "no hostfile $hostfile"
  # slots of the first host: the ranks per node of a homogeneous cluster
  first_slots=$(awk '!/^[[:space:]]*(#|$)/ { for (i = 2; i <= NF; i++)
    if ($i ~ /^slots=/) { sub(/slots=/, "", $i); print $i; exit } print 1; exit }' "$hostfile")
  slots=$(awk '!/^[[:space:]]*(#|$)/ { n = 1; for (i = 2; i <= NF; i++)
    if ($i ~ /^slots=/) { sub(/slots=/, "", $i); n = $i } total += n } END { print total + 0 }' \
    "$hostfile")
  per_node=${per_node:-$first_slots}
fi
if [[ -z $ranks ]]; then
  if ((slots > 0)); then
    ranks=$slots
  elif command -v nvidia-smi >/dev/null && gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU'); then
    ranks=$gpus
  else
    ranks=2
  fi
fi
per_node=${per_node:-$ranks}
if [[ -z $threads ]]; then
  threads=$(($(nproc) / per_node))
  ((threads > 0)) || threads=1
fi

command=("${MPIRUN:-mpirun}" -n "$ranks")
if [[ -n $hostfile ]]; then
  command+=(--hostfile "$hostfile")
fi
if [[ $bind == core ]]; then
  command+=(--map-by "ppr:${per_node}:node:PE=${threads}" --bind-to core)
else
  command+=(--map-by "ppr:${per_node}:node" --bind-to none)
fi
if [[ -n $tcp_if ]]; then
  command+=(--mca btl_tcp_if_include "$tcp_if" --mca oob_tcp_if_include "$tcp_if")
fi
command+=("${mca[@]}")
export OMP_NUM_THREADS=$threads
for name in PATH LD_LIBRARY_PATH OMP_NUM_THREADS CUDA_VISIBLE_DEVICES; do
  if [[ -n ${!name:-} ]]; then
    command+=(-x "$name")
  fi
done
while read -r name; do
  command+=(-x "$name")
done < <(compgen -e | grep -E '^(NCCL_|GDAL_|SATUNET_)' || true)

subcommand=$1
shift
args=("$@")
case $subcommand in
  train | tile | predict)
    given=0
    for arg in "${args[@]}"; do
      [[ $arg == --threads || $arg == --threads=* ]] && given=1
    done
    ((given)) || args+=(--threads "$threads")
    ;;
esac
command+=("$binary" "$subcommand" "${args[@]}")

if ((dry_run)); then
  printf '%q ' "${command[@]}"
  echo
  exit 0
fi
echo "mpirun.sh: ${command[*]}" >&2
exec "${command[@]}"
