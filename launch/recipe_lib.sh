# shellcheck shell=bash
# What the recipe scripts (kampala.sh, roads.sh) share; sourced from the checkout's root.

# recipe_satunet: the satunet binary to run: SATUNET_BINARY as it is, or this checkout's own,
# built (or brought up to date) by launch/setup.sh in SATUNET_BUILD_DIR (default: build).
recipe_satunet() {
  if [[ -n ${SATUNET_BINARY:-} ]]; then
    realpath "$SATUNET_BINARY"
  else
    launch/setup.sh >/dev/null
    echo "$PWD/${SATUNET_BUILD_DIR:-build}/satunet"
  fi
}
