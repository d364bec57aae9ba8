#!/usr/bin/env bash
# Installs what selene's build and tests need on a fresh Debian machine: system packages
# (Mesa's software Vulkan driver, so wgpu runs without a GPU), the Rust toolchain if missing,
# and the real model files the tests and the demo use. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# Libraries come from Debian; commands only when the machine has none of its own (a machine may
# already carry Node.js and npm from elsewhere, and Debian's npm package then conflicts with it).
packages=(mesa-vulkan-drivers libvulkan1 pkg-config ca-certificates)
declare -A command_packages=([python3]=python3 [npm]=npm [curl]=curl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
for c in "${!command_packages[@]}"; do
  command -v "$c" >/dev/null || missing+=("${command_packages[$c]}")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  log "installing Rust (rustup, stable)"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  source "$HOME/.cargo/env"
fi

scripts/fetch-fixtures.sh
