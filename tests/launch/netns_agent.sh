#!/usr/bin/env bash
# An rsh/ssh stand-in for Open MPI (--mca plm_rsh_agent): "netns_agent.sh HOST COMMAND..."
# runs COMMAND in the network namespace that stands for HOST, as ssh would run it on the host.
#   SATUNET_NETNS_HOSTS  "HOST=NAMESPACE ..." pairs (mpirun's environment reaches the agent)
#   SATUNET_NETNS_LOG    where to note each launch (optional)
set -euo pipefail
host=${1:?usage: netns_agent.sh HOST COMMAND...}
shift
for pair in ${SATUNET_NETNS_HOSTS:?SATUNET_NETNS_HOSTS is not set}; do
  if [[ ${pair%%=*} == "$host" ]]; then
    if [[ -n ${SATUNET_NETNS_LOG:-} ]]; then
      echo "$host -> ${pair#*=}: $*" >>"$SATUNET_NETNS_LOG"
    fi
    # like ssh: the words make one command line for the remote shell
    exec ip netns exec "${pair#*=}" /bin/sh -c "$*"
  fi
done
echo "netns_agent.sh: no namespace stands for host '$host'" >&2
exit 255
