# Source this (bash/zsh) after tools/reference/setup.sh:
#   source tools/reference/env.sh
# Exports SELENE_REF, LLAMA_CPP_BIN (llama.cpp tools), LLAMA_CPP_LIB (libggml-base.so,
# libggml.so, libllama.so) and puts the reference venv first on PATH.
export SELENE_REF="${SELENE_REF:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/ref}"
export LLAMA_CPP_BIN="$SELENE_REF/llama.cpp/build/bin"
export LLAMA_CPP_LIB="$SELENE_REF/llama.cpp/build/bin"
export VIRTUAL_ENV="$SELENE_REF/venv"
case ":$PATH:" in
  *":$VIRTUAL_ENV/bin:"*) ;;
  *) export PATH="$VIRTUAL_ENV/bin:$PATH" ;;
esac
if [ ! -x "$VIRTUAL_ENV/bin/python" ] || [ ! -e "$LLAMA_CPP_LIB/libggml-base.so" ]; then
  echo "tools/reference/env.sh: reference toolchain incomplete under $SELENE_REF; run tools/reference/setup.sh" >&2
fi
