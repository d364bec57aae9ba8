#!/usr/bin/env bash
# The test command: builds once in release mode and runs every test of the workspace.
# The cargo target directory lives outside the clone (SELENE_TARGET_DIR) so that it survives
# fresh clones; a cold one is still correct, only slower.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${SELENE_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo test --release --workspace --locked

# The CUDA build, type-checked: CI has no GPU, and DOCS_RS=1 keeps cubecl-llvm from downloading
# its LLVM bundle. A real CUDA build needs that bundle (or the stand-in described in the README).
DOCS_RS=1 cargo check --locked -p selene-train -p selene-cli --features selene-train/cuda,selene-cli/cuda
