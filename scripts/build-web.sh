#!/usr/bin/env bash
# Builds the browser page into a static folder (default dist/): crates/web compiled to wasm32
# with Debian's rustc-web (the standard library rebuilt with build-std), bound to JavaScript by
# wasm-bindgen-cli, and web/'s page, worker and stylesheet beside it. Serve the folder with any
# static file server (`python3 -m http.server -d dist`); it makes no request to any other origin.
#
#   scripts/build-web.sh [OUT_DIR]
#
# The wasm target directory lives outside the clone (SELENE_WASM_TARGET_DIR), apart from the
# native one: a cold build takes about 20 minutes on 2 cores, a rebuild of crates/web seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[build-web] %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

out="${1:-dist}"
target_dir="${SELENE_WASM_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/target-wasm}"

# Debian's rustc-web can build wasm32-unknown-unknown from the standard library's source.
packages=(rustc-web cargo-web rust-web-src lld-22)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# wasm-bindgen-cli must match the wasm-bindgen version in Cargo.lock exactly.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $bindgen_version" ]]; then
  log "cargo install wasm-bindgen-cli $bindgen_version"
  cargo install wasm-bindgen-cli --version "$bindgen_version"
fi

log "compiling crates/web for wasm32 (target dir $target_dir)"
started=$SECONDS
# Debian's rustc ships no rust-lld; lld-22's wasm-ld links the module.
RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 RUSTFLAGS='--cfg getrandom_backend="wasm_js"' CARGO_TARGET_DIR="$target_dir" \
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22 /usr/bin/cargo build --release --locked --target wasm32-unknown-unknown -Z build-std=std,panic_abort -p selene-web
log "compiled in $((SECONDS - started)) s"

rm -rf "$out"
mkdir -p "$out"
wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" \
  "$target_dir/wasm32-unknown-unknown/release/selene_web.wasm"
cp web/index.html web/app.js web/worker.js web/style.css web/favicon.svg "$out/"
log "$out/: $(du -sh "$out" | cut -f1) ($(du -h "$out/pkg/selene_web_bg.wasm" | cut -f1) of wasm)"
