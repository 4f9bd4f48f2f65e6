# shellcheck shell=bash
# Sourced by train.sbatch and predict.sbatch: finds the satunet binary, chooses how ranks are
# started inside the allocation, and runs a job step that stop signals are forwarded to.
#
# Environment (all optional):
#   SATUNET_HOME      the satunet checkout (the batch scripts find it from their own path as
#                     submitted, else take the directory sbatch was run in)
#   SATUNET_BIN       the satunet binary (default: $SATUNET_HOME/build/satunet, else satunet
#                     on PATH)
#   SATUNET_LAUNCHER  auto (default), srun or mpirun. auto: srun --mpi=pmix when this SLURM
#                     has the pmix plugin, else Open MPI's mpirun (which reads the allocation
#                     from SLURM), else plain srun
#   SATUNET_SRUN_MPI  the srun --mpi type (default pmix; pmi2 for MPICH or Intel MPI)
#   SATUNET_CPU_BIND  srun --cpu-bind value (default cores; none where the task plugin
#                     cannot bind)
#   SATUNET_MPIRUN_ARGS  extra arguments for mpirun (word-split), e.g. "--mca btl ^openib"

satunet_log() {
  printf '[%s %s] %s\n' "$(date '+%F %T')" "${SLURM_JOB_ID:-local}" "$*"
}

satunet_die() {
  satunet_log "error: $*" >&2
  exit 1
}

satunet_find_binary() {
  if [[ -n ${SATUNET_BIN:-} ]]; then
    [[ -x $SATUNET_BIN ]] || satunet_die "SATUNET_BIN=$SATUNET_BIN is not an executable"
  elif [[ -x ${SATUNET_HOME:?}/build/satunet ]]; then
    SATUNET_BIN=$SATUNET_HOME/build/satunet
  elif command -v satunet >/dev/null; then
    SATUNET_BIN=$(command -v satunet)
  else
    satunet_die "no satunet binary: set SATUNET_BIN, or build one in $SATUNET_HOME/build"
  fi
}

# Whether the binary has a subcommand (subcommands appear in --help only once they work).
satunet_has_command() {
  # (grep -q on a pipe could end the writer early: with pipefail, a false "no")
  grep -Eq "^  $1 " <<<"$("$SATUNET_BIN" --help)"
}

# Fills the array LAUNCH with the command that starts one rank per task of the allocation.
satunet_choose_launcher() {
  local launcher=${SATUNET_LAUNCHER:-auto}
  local mpi=${SATUNET_SRUN_MPI:-pmix}
  if [[ $launcher == auto ]]; then
    if grep -qw "$mpi" <<<"$(srun --mpi=list 2>&1)"; then
      launcher=srun
    elif command -v mpirun >/dev/null; then
      launcher=mpirun
    else
      launcher=srun
      mpi=""
    fi
  fi
  case $launcher in
    srun)
      LAUNCH=(srun --kill-on-bad-exit=1 --cpu-bind="${SATUNET_CPU_BIND:-cores}")
      if [[ -n $mpi ]]; then
        LAUNCH+=(--mpi="$mpi")
      fi
      ;;
    mpirun)
      # Open MPI takes hosts and slots from SLURM; one rank per task, each bound to its
      # --cpus-per-task cores. Environment for the ranks: srun starts Open MPI's daemons
      # with the batch environment, -x makes the choice explicit for the variables below.
      local per_node=${SLURM_NTASKS_PER_NODE:-}
      per_node=${per_node%%(*}
      local cpus=${SLURM_CPUS_PER_TASK:-1}
      LAUNCH=(mpirun -n "${SLURM_NTASKS:?no SLURM_NTASKS: run inside a SLURM allocation}")
      if [[ -n $per_node ]]; then
        LAUNCH+=(--map-by "ppr:${per_node}:node:PE=${cpus}" --bind-to core)
      fi
      local name
      for name in PATH LD_LIBRARY_PATH OMP_NUM_THREADS CUDA_VISIBLE_DEVICES; do
        if [[ -n ${!name:-} ]]; then
          LAUNCH+=(-x "$name")
        fi
      done
      while read -r name; do
        LAUNCH+=(-x "$name")
      done < <(compgen -e | grep -E '^(NCCL_|GDAL_|SATUNET_)' || true)
      if [[ -n ${SATUNET_MPIRUN_ARGS:-} ]]; then
        local extra
        read -r -a extra <<<"$SATUNET_MPIRUN_ARGS"
        LAUNCH+=("${extra[@]}")
      fi
      ;;
    *)
      satunet_die "SATUNET_LAUNCHER must be auto, srun or mpirun (got '$launcher')"
      ;;
  esac
}

# Stop signals: a SIGUSR1 or SIGTERM reaching this shell (sbatch --signal=B:USR1@T, scancel
# --signal=USR1 --batch, the end of the time limit) would end bash at once. Trapped, it is
# remembered in STOP_SIGNAL and passed on to a running step: srun and mpirun both forward it
# to every rank. Call before anything else.
STOP_SIGNAL=${STOP_SIGNAL:-}
STEP_PID=""
satunet_forward() {
  # shellcheck disable=SC2034  # read by the batch scripts
  STOP_SIGNAL=$1
  if [[ -n $STEP_PID ]]; then
    satunet_log "received SIG$1; passing it on to the ranks"
    kill -s "$1" "$STEP_PID" 2>/dev/null || true
  else
    satunet_log "received SIG$1 outside a step"
  fi
}

satunet_trap_signals() {
  trap 'satunet_forward USR1' USR1
  trap 'satunet_forward TERM' TERM
}

# Runs "${LAUNCH[@]}" "$@" as a job step in the background and waits for it, signals
# forwarded meanwhile. Sets STEP_STATUS.
satunet_run_step() {
  satunet_log "step: ${LAUNCH[*]} $*"
  "${LAUNCH[@]}" "$@" &
  STEP_PID=$!
  # A trapped signal ends wait early (status above 128): wait again while the step runs, then
  # once more for its own status, which bash keeps.
  while kill -0 "$STEP_PID" 2>/dev/null; do
    wait "$STEP_PID" || true
  done
  STEP_STATUS=0
  wait "$STEP_PID" || STEP_STATUS=$?
  STEP_PID=""
  satunet_log "step ended with status $STEP_STATUS"
}

# The value of option $1 among the remaining arguments (--name VALUE or --name=VALUE).
satunet_option() {
  local name=$1
  shift
  while (($#)); do
    case $1 in
      "$name") echo "${2:-}"; return ;;
      "$name"=*) echo "${1#*=}"; return ;;
    esac
    shift
  done
}

# Key $3 of section [$2] of INI file $1, or of its top part.
satunet_ini_value() {
  awk -v want="$2" -v key="$3" '
    /^[[:space:]]*[#;]/ { next }
    /^[[:space:]]*\[/ { gsub(/[[:space:]\[\]]/, ""); section = $0; next }
    (section == "" || section == want) && index($0, "=") {
      k = substr($0, 1, index($0, "=") - 1); v = substr($0, index($0, "=") + 1)
      gsub(/^[[:space:]]+|[[:space:]]+$/, "", k); gsub(/^[[:space:]]+|[[:space:]]+$/, "", v)
      if (k == key) found = v
    }
    END { if (found != "") print found }' "$1"
}

# Option $2 of subcommand $1: from the command line (the remaining arguments), else from the
# --config file's [$1] section, as satunet itself resolves it.
satunet_resolve_option() {
  local command=$1 name=$2
  shift 2
  local value config
  value=$(satunet_option "--$name" "$@")
  if [[ -z $value ]]; then
    config=$(satunet_option --config "$@")
    if [[ -n $config && -f $config ]]; then
      value=$(satunet_ini_value "$config" "$command" "$name")
    fi
  fi
  echo "$value"
}

satunet_has_option() {
  local name=$1
  shift
  local arg
  for arg in "$@"; do
    if [[ $arg == "$name" || $arg == "$name"=* ]]; then
      return 0
    fi
  done
  return 1
}

satunet_job_summary() {
  satunet_log "job ${SLURM_JOB_ID:-?} '${SLURM_JOB_NAME:-?}': ${SLURM_JOB_NUM_NODES:-1} node(s)" \
    "(${SLURM_JOB_NODELIST:-?}), ${SLURM_NTASKS:-?} task(s), ${SLURM_CPUS_PER_TASK:-1} CPU(s)" \
    "per task, restart ${SLURM_RESTART_COUNT:-0}; satunet ${SATUNET_BIN}; launcher ${LAUNCH[*]}"
}
