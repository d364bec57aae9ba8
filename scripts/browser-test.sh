#!/usr/bin/env bash
# The browser test (not part of scripts/test.sh: it needs a second, wasm32, build of the whole
# stack and Debian's Chromium). Builds the page (scripts/build-web.sh), cuts the demo model into
# shards of at most 32 MiB, judges the example items natively to get the reference tokens, then
# drives the page in headless Chromium (WebGPU on SwiftShader without a GPU) with playwright-core
# from npm: web/tests/browser.test.mjs. Writes docs/browser-judgment.png, then runs the benchmark
# beside wllama (web/tests/wllama.bench.mjs), which writes tools/bench/results/browser_vs_wllama.md
# and the measurements beside it (.json).
#
#   scripts/browser-test.sh            # everything
#   SELENE_SKIP_WEB_BUILD=1 scripts/browser-test.sh   # reuse dist/
#
# SELENE_TARGET_DIR is the native target directory (as for scripts/test.sh),
# SELENE_BROWSER_MAX_TOKENS the length of the judgments (SwiftShader is slow),
# SELENE_BROWSER_RESULTS where the measurements go (JSON, default beside the table),
# SELENE_SKIP_WLLAMA=1 skips the benchmark beside wllama.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[browser-test] %s\n' "$*" >&2; }
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

export CARGO_TARGET_DIR="${SELENE_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/target}"
fixtures="${SELENE_FIXTURES:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/fixtures}"
model="$fixtures/SmolLM2-135M-Instruct.Q4_1.gguf"
max_tokens="${SELENE_BROWSER_MAX_TOKENS:-32}"
# The demo model is no trained judge: starting its reply with the result marker makes it state
# a verdict that parses (the CLI's --prefill; Selene Mini needs none).
options="{\"max_tokens\": $max_tokens, \"prefill\": \"**Result:**\"}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

[[ -f "$model" ]] || scripts/fetch-fixtures.sh
if ! command -v chromium >/dev/null; then
  log "apt-get install chromium"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi

started=$SECONDS
if [[ -z "${SELENE_SKIP_WEB_BUILD:-}" || ! -f dist/pkg/selene_web_bg.wasm ]]; then
  scripts/build-web.sh dist
fi
log "page built ($((SECONDS - started)) s)"

cargo build --release --locked --workspace --example split_gguf --example native_judge
examples="$CARGO_TARGET_DIR/release/examples"
mkdir -p "$work/models" "$work/native"
"$examples/split_gguf" "$model" "$work/models/smollm2.gguf" 32MiB >/dev/null
log "split the demo model: $(ls "$work/models" | tr '\n' ' ')"
for task in absolute pairwise; do
  "$examples/native_judge" "$model" "examples/$task.json" "$options" cpu >"$work/native/$task.json"
done
log "native reference tokens ready ($((SECONDS - started)) s)"

(cd web/tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
mkdir -p docs
export SELENE_DIST=dist SELENE_MODELS="$work/models" SELENE_NATIVE="$work/native" SELENE_OPTIONS="$options" \
  SELENE_SHOT=docs/browser-judgment.png SELENE_RESULTS="${SELENE_BROWSER_RESULTS:-tools/bench/results/browser_vs_wllama.json}" \
  SELENE_TABLE=tools/bench/results/browser_vs_wllama.md
node web/tests/browser.test.mjs
# The benchmark beside wllama (llama.cpp in wasm) on the same model in the same browser.
if [[ -z "${SELENE_SKIP_WLLAMA:-}" ]]; then
  node web/tests/wllama.bench.mjs
fi
cat "$SELENE_RESULTS"
log "passed in $((SECONDS - started)) s"
