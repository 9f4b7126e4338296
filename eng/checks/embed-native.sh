#!/usr/bin/env bash
# Publishes the embedding sample (runtime + generator + one shape file) as a fully trimmed NativeAOT binary with
# no warnings, runs it once on the tiny fixture, and checks that it picked the generated model, produced text,
# stayed small, and fails cleanly on a missing model.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
tiny="$repo/../shared/fixtures/tiny-7v0-834K/tiny-rwkv-7v0-834K-FP32.bin"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# Full trimming should keep the whole host (runtime, tokenizers, one generated model) far below this.
max_bytes=$((6 * 1024 * 1024))

case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) fail "no runtime identifier for $(uname -m)" ;;
esac

dotnet publish "$repo/samples/Rwkv7.Embed" -c Release -r "$rid" -o "$work/bin" -nologo 2>&1 | tee "$work/publish.log"
if grep -E ': warning [A-Z]+[0-9]+' "$work/publish.log"; then
  fail "the NativeAOT publish printed warnings"
fi
host="$work/bin/rwkv7-embed"
size=$(stat -c %s "$host")
echo "binary: $size bytes"
[[ $size -lt $max_bytes ]] || fail "the trimmed host is $size bytes, over $max_bytes"

"$host" "$tiny" "Once upon a time" 32 > "$work/out.txt" 2> "$work/err.txt"
cat "$work/out.txt" "$work/err.txt"
[[ $(tr -d '\n' < "$work/out.txt" | wc -c) -gt 0 ]] || fail "no text was generated"
grep -q "generated Rwkv7.Embed.Models.TinyModel engine" "$work/err.txt" || fail "the host should run its generated model"

set +e
"$host" /nonexistent/model.bin "x" > /dev/null 2> "$work/err.txt"; rc=$?
set -e
cat "$work/err.txt"
[[ $rc -eq 1 && $(wc -l < "$work/err.txt") -eq 1 ]] || fail "a missing model should exit 1 with one line (exit $rc)"
echo "embedding sample checks passed"
