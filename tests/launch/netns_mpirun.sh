#!/usr/bin/env bash
# Two "nodes" without a cluster: two network namespaces joined by a veth pair (10.213.0.1/24
# and 10.213.0.2/24). launch/mpirun.sh runs in the first with a hostfile of both addresses,
# TCP only on the veth, and tests/launch/netns_agent.sh as Open MPI's launch agent, so rank 1
# starts inside the second namespace and every byte between the ranks crosses the veth.
# Training a few steps there must give the byte-identical checkpoint of a local 2-rank run
# with the same seed and command line. The namespaces go away at the end, also on failure.
# Exit 77 (skipped) where network namespaces or veth pairs cannot be made.
#   usage: netns_mpirun.sh SATUNET_BINARY SOURCE_DIR
set -euo pipefail

binary=$(realpath "${1:?usage: netns_mpirun.sh SATUNET_BINARY SOURCE_DIR}")
source_dir=$(realpath "${2:?usage: netns_mpirun.sh SATUNET_BINARY SOURCE_DIR}")
config=$source_dir/configs/smoke.ini
steps=8
net=10.213.0
ns_a=satunet-a-$$
ns_b=satunet-b-$$
veth_a=stn$$a
veth_b=stn$$b

# shellcheck source=tests/launch/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v ip >/dev/null || skip "no ip command (Debian's iproute2)"
command -v mpirun >/dev/null || skip "no mpirun"
[[ $(id -u) -eq 0 ]] || skip "making network namespaces needs root; this test runs as $(id -un)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/satunet-netns.XXXXXX")
cleanup() {
  local status=$?
  set +e
  ip netns del "$ns_a" 2>/dev/null
  ip netns del "$ns_b" 2>/dev/null
  ip link del "$veth_a" 2>/dev/null
  if ((status != 0 && status != 77)) && [[ -f $tmp/agent.log ]]; then
    echo "---- launch agent log"
    cat "$tmp/agent.log"
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT

step "network namespaces $ns_a ($net.1) and $ns_b ($net.2) joined by a veth pair"
ip netns add "$ns_a" 2>"$tmp/err" || skip "cannot make a network namespace: $(cat "$tmp/err")"
ip netns add "$ns_b" 2>"$tmp/err" || skip "cannot make a network namespace: $(cat "$tmp/err")"
ip link add "$veth_a" type veth peer name "$veth_b" 2>"$tmp/err" ||
  skip "cannot make a veth pair: $(cat "$tmp/err")"
ip link set "$veth_a" netns "$ns_a"
ip link set "$veth_b" netns "$ns_b"
ip -n "$ns_a" addr add "$net.1/24" dev "$veth_a"
ip -n "$ns_b" addr add "$net.2/24" dev "$veth_b"
for ns in "$ns_a" "$ns_b"; do
  ip -n "$ns" link set lo up
done
ip -n "$ns_a" link set "$veth_a" up
ip -n "$ns_b" link set "$veth_b" up

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export SATUNET_BIN=$binary
export SATUNET_NETNS_HOSTS="$net.1=$ns_a $net.2=$ns_b" SATUNET_NETNS_LOG=$tmp/agent.log
printf '%s slots=1\n' "$net.1" "$net.2" >"$tmp/hosts"
# The multi-node launch: from the first namespace, the second reached by the agent.
agent=$source_dir/tests/launch/netns_agent.sh
across=(ip netns exec "$ns_a" "$source_dir/launch/mpirun.sh" --hostfile "$tmp/hosts"
  --threads 1 --tcp-if "$net.0/24" --mca btl "tcp,self" --mca plm_rsh_agent "$agent")

step "where the ranks run (plain mpirun, the same placement)"
# shellcheck disable=SC2016  # expanded by each rank's shell
report='echo "rank $OMPI_COMM_WORLD_RANK: $(ip -o -4 addr show scope global | awk "{print \$2, \$4}")"'
ip netns exec "$ns_a" mpirun -n 2 --hostfile "$tmp/hosts" --map-by node \
  --mca btl "tcp,self" --mca btl_tcp_if_include "$net.0/24" --mca oob_tcp_if_include "$net.0/24" \
  --mca plm_rsh_agent "$agent" /bin/sh -c "$report" >"$tmp/where" 2>&1 ||
  { cat "$tmp/where"; fail "mpirun across the namespaces failed"; }
cat "$tmp/where"
grep -q "^rank 0: $veth_a $net.1/24" "$tmp/where" || fail "rank 0 is not in $ns_a"
grep -q "^rank 1: $veth_b $net.2/24" "$tmp/where" || fail "rank 1 is not in $ns_b"
grep -q "^$net.2 -> $ns_b: .*orted" "$tmp/agent.log" || fail "the agent did not start orted in $ns_b"

step "smoke data: synth and tile"
cd "$tmp"
"$binary" synth --config "$config" --out scene -q >/dev/null
"$binary" tile --config "$config" --out data --image scene/scene.tif \
  --labels building=scene/buildings.geojson --labels road=scene/roads.geojson -q >/dev/null

# The same command line in both runs (a checkpoint records it), from two directories.
train=(train --config "$config" --data ../data --out run --max-steps "$steps" --seed 7 -q)
bytes() {
  ip -n "$1" -s -j link show "$2" | tr ',' '\n' | sed -n 's/.*"bytes":\([0-9]*\).*/\1/p' |
    head -n 1
}

step "local run: 2 ranks on this machine, $steps steps"
mkdir local across
(cd local && "$source_dir/launch/mpirun.sh" -n 2 --threads 1 "${train[@]}")

step "the same across the namespaces, TCP over the veth only"
received_before=$(bytes "$ns_b" "$veth_b")
(cd across && "${across[@]}" "${train[@]}")
received=$(($(bytes "$ns_b" "$veth_b") - received_before))
echo "$ns_b received $received bytes on $veth_b during training"
# 7559 float parameters all-reduced at every step and broadcast at the start: ~30 kB each
((received > 100000)) || fail "only $received bytes crossed the veth: the ranks did not talk over it"

step "checkpoints"
for run in local across; do
  [[ -f $run/run/checkpoints/last.pt ]] || fail "the $run run wrote no last.pt"
  echo "$run: $(sha256sum <"$run/run/checkpoints/last.pt" | cut -c1-16)  $("$binary" info "$run/run/checkpoints/last.pt" | grep training:)"
done
cmp local/run/checkpoints/last.pt across/run/checkpoints/last.pt ||
  fail "the run across namespaces ended with other weights than the local run"
cmp local/run/checkpoints/best.pt across/run/checkpoints/best.pt ||
  fail "best.pt differs between the local run and the run across namespaces"
step "done: last.pt and best.pt byte-identical between 2 local ranks and 2 ranks across namespaces"
