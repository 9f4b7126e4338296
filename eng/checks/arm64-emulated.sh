#!/usr/bin/env bash
# linux-arm64 (Apple Silicon under Linux, Graviton, Ampere) runs the 128-bit AdvSimd paths, which no x64 run exercises.
# This check publishes the rwkv7 CLI for linux-arm64 (self-contained, JIT: NativeAOT cannot cross-compile to arm64
# here) and runs it under qemu user-mode emulation, comparing its logits on the fixtures with the float64 goldens:
# the tiny model on the CLI's generated kernels (fp32 and bf16 matrices) and the 4-head mh4 model on the reference
# engine, every row within 1e-4 of its standard deviation (NaN-safe, eng/lib/compare-f32.sh).
# On a machine without them it installs qemu-user-static and the arm64 C and C++ runtimes with apt (root, or sudo
# without a password); when they are there it installs nothing. On an arm64 machine it runs the binary directly.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$repo/eng/lib/compare-f32.sh"
fixtures="$repo/../shared/fixtures"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*"; exit 1; }
step() { echo; echo "== $*"; }
started=$(date +%s)
elapsed() { echo "$(( $(date +%s) - started )) s"; }

as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
    sudo "$@"
  else
    fail "installing needs root: $*"
  fi
}

emulate=()
if [[ $(uname -m) != aarch64 ]]; then
  step "emulator and arm64 runtime libraries"
  packages=()
  command -v qemu-aarch64-static > /dev/null || packages+=(qemu-user-static)
  if [[ ! -e /lib/ld-linux-aarch64.so.1 || ! -e /usr/lib/aarch64-linux-gnu/libstdc++.so.6 ]]; then
    packages+=(libc6:arm64 libstdc++6:arm64)
  fi
  if (( ${#packages[@]} > 0 )); then
    command -v apt-get > /dev/null || fail "missing ${packages[*]}, and there is no apt-get to install them"
    if [[ " ${packages[*]} " == *:arm64* ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
      as_root dpkg --add-architecture arm64
    fi
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}"
  fi
  qemu-aarch64-static --version | head -n 1
  echo "ready after $(elapsed)"
  # The arm64 loader and libraries come from /; W^X double-maps the JIT's code pages, which qemu-user does not support.
  export QEMU_LD_PREFIX=/ DOTNET_EnableWriteXorExecute=0
  emulate=(qemu-aarch64-static)
fi

step "publish (linux-arm64, self-contained, JIT)"
dotnet publish "$repo/samples/Rwkv7.Cli" -c Release -r linux-arm64 --self-contained -p:PublishAot=false \
  -o "$work/bin" -nologo 2>&1 | tee "$work/publish.log"
if grep -E ': warning [A-Z]+[0-9]+' "$work/publish.log"; then
  fail "the publish printed warnings"
fi
cli="$work/bin/rwkv7"
[[ -x "$cli" ]] || fail "no binary at $cli"
file_type=$(od -An -tx1 -j18 -N2 "$cli" | tr -d ' ')
[[ $file_type == b700 ]] || fail "$cli is not an arm64 ELF binary (e_machine $file_type)"
echo "published after $(elapsed)"

step "info"
"${emulate[@]}" "$cli" info --model "$fixtures/tiny-7v0-834K/tiny-rwkv-7v0-834K-FP32.bin" | tee "$work/info.txt"
grep -q '^vectors     Vector128' "$work/info.txt" || fail "arm64 should run 128-bit vectors"

# The token ids of a goldens manifest ("tokens": [ ... ]), comma-separated.
tokens_of() {
  awk '/"tokens": \[/ { on = 1; next } on && /\]/ { exit } on { gsub(/[ ,]/, ""); if ($0 != "") ids = ids (ids ? "," : "") $0 }
       END { print ids }' "$1"
}

# check_logits NAME MODEL GOLDENS VOCAB ENGINE: logits of every prefix of the goldens' 24 tokens, on ENGINE.
check_logits() {
  local name=$1 model=$2 goldens=$3 vocab=$4 engine=$5
  step "$name: logits of 24 tokens vs the float64 goldens"
  local tokens
  tokens=$(tokens_of "$goldens/manifest.json")
  [[ $(tr ',' '\n' <<< "$tokens" | wc -l) -eq 24 ]] || fail "expected 24 tokens in $goldens/manifest.json, got '$tokens'"
  "${emulate[@]}" "$cli" logits --model "$model" --tokens "$tokens" --all --out "$work/$name.f32" | tee "$work/$name.txt"
  grep -q "($engine" "$work/$name.txt" || fail "$name should run on the $engine engine"
  compare_f32_rows "$work/$name.f32" "$goldens/logits.f32" 24 "$vocab" 1e-4 || fail "$name: logits differ from the goldens"
  echo "done after $(elapsed)"
}

check_logits tiny-fp32 "$fixtures/tiny-7v0-834K/tiny-rwkv-7v0-834K-FP32.bin" "$fixtures/tiny-7v0-834K/goldens-seq1" 256 generated
check_logits tiny-bf16 "$fixtures/tiny-7v0-834K/tiny-rwkv-7v0-834K-bf16.pth" "$fixtures/tiny-7v0-834K/goldens-seq1" 256 generated
check_logits mh4-bf16 "$fixtures/mh4/rwkv7-mh4-random-bf16.pth" "$fixtures/mh4/goldens" 512 reference

echo
echo "linux-arm64 matches the float64 goldens ($(elapsed) in all)"
