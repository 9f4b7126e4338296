#!/usr/bin/env bash
# Publishes the rwkv7 CLI once with NativeAOT (the AVX2 build, as released for x64) and checks the native binary
# end to end on the tiny fixture: logits against rwkv.cpp's expected values, the vector width it reports,
# `bench --shape tiny`, seeded generation being repeatable, a piped chat that saves and reloads its state,
# tokenize, perplexity, GGUF files (info, generation, convert), and one-line failures with the right exit codes.
# The publish must print no warning.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
fixtures="$repo/../shared/fixtures"
tiny="$fixtures/tiny-7v0-834K/tiny-rwkv-7v0-834K-FP32.bin"
vocab="$fixtures/tokenizer/rwkv_vocab_v20230424.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*"; exit 1; }
step() { echo; echo "== $*"; }

case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) fail "no runtime identifier for $(uname -m)" ;;
esac

step "publish (NativeAOT, RwkvIsa=avx2, $rid)"
start=$(date +%s)
dotnet publish "$repo/samples/Rwkv7.Cli" -c Release -r "$rid" -p:RwkvIsa=avx2 -o "$work/bin" -nologo 2>&1 | tee "$work/publish.log"
echo "publish took $(( $(date +%s) - start )) s"
if grep -E ': warning [A-Z]+[0-9]+' "$work/publish.log"; then
  fail "the NativeAOT publish printed warnings"
fi
cli="$work/bin/rwkv7"
[[ -x "$cli" ]] || fail "no binary at $cli"
echo "binary: $(stat -c %s "$cli") bytes"

step "info"
"$cli" info --model "$tiny" | tee "$work/info.txt"
grep -q '^engine      generated Rwkv7.Cli.Models.TinyModel' "$work/info.txt" || fail "info: the tiny fixture should run on the CLI's generated model"
if [[ $rid == linux-x64 ]]; then
  grep -q '^vectors     Vector256' "$work/info.txt" || fail "info: the AVX2 build should use 256-bit vectors"
fi

step "logits vs rwkv.cpp's expected logits"
"$cli" logits --model "$tiny" --tokens 34,105,110 --out "$work/logits.f32"
paste <(od -An -v -tf4 -w4 "$work/logits.f32") <(od -An -v -tf4 -w4 "$fixtures/tiny-7v0-834K/expected-logits-7v0-834K.bin") |
  awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > max) max = d; n++ }
       END { printf "max |logit - expected| = %.3g over %d logits\n", max, n; exit !(n == 256 && max < 1e-4) }' ||
  fail "logits differ from rwkv.cpp's by 1e-4 or more"

step "bench --shape tiny"
"$cli" bench --shape tiny --tokens 8 --prefill 16 --batch 2 --runs 1 | tee "$work/bench.txt"
grep -q '^engine       generated Rwkv7.Cli.Models.TinyModel' "$work/bench.txt" || fail "bench --shape tiny should run the generated tiny model"

step "generate --seed 7, twice"
"$cli" generate --model "$tiny" "Once upon a time" --seed 7 --max-tokens 64 > "$work/gen1.txt"
"$cli" generate --model "$tiny" "Once upon a time" --seed 7 --max-tokens 64 > "$work/gen2.txt"
[[ -s "$work/gen1.txt" ]] || fail "generate produced no text"
cmp "$work/gen1.txt" "$work/gen2.txt" || fail "the same seed gave different text"
od -c "$work/gen1.txt" | head -n 3
printf 'Once upon a time' | "$cli" generate --model "$tiny" --seed 7 --max-tokens 64 > "$work/gen3.txt"
cmp "$work/gen1.txt" "$work/gen3.txt" || fail "a piped prompt should give the same text as the argument"

step "chat: /save, /reset, /load continue the conversation exactly"
printf 'Hello there\nHow are you?\n' | "$cli" chat --model "$tiny" --seed 3 --max-tokens 24 > "$work/chat1.txt"
printf 'Hello there\n/save %s\n/reset\n/load %s\nHow are you?\n/quit\n' "$work/chat.state" "$work/chat.state" |
  "$cli" chat --model "$tiny" --seed 3 --max-tokens 24 > "$work/chat2.txt"
[[ -s "$work/chat.state" ]] || fail "/save wrote no state file"
cmp "$work/chat1.txt" "$work/chat2.txt" || fail "a conversation reloaded from its state went differently"

step "tokenize"
ids=$(printf 'Hello, world!' | "$cli" tokenize --vocab "$vocab")
[[ "$ids" == "33155 45 40213 34" ]] || fail "tokenize gave '$ids'"

step "perplexity"
printf 'Once upon a time, there was a little girl named Lily. She loved to play outside.' > "$work/story.txt"
"$cli" perplexity "$work/story.txt" --model "$tiny" | tee "$work/ppl.txt"
grep -Eq '^perplexity   [0-9]' "$work/ppl.txt" || fail "perplexity printed no result"

step "GGUF: info and generation from llama.cpp files, convert to GGUF twice gives the same bytes"
gguf="$fixtures/gguf"
"$cli" info --model "$gguf/mh4/rwkv7-mh4-random-Q4_K_M.gguf" | tee "$work/info-gguf.txt"
grep -q '^gguf        version 3, architecture rwkv7' "$work/info-gguf.txt" || fail "info: no GGUF metadata line"
grep -q '^tokenizer   World, 512 tokens from the file' "$work/info-gguf.txt" || fail "info: the GGUF's vocabulary should be used"
"$cli" generate --model "$gguf/mh4/rwkv7-mh4-random-Q8_0.gguf" "Hello" --seed 7 --max-tokens 16 > "$work/gen-gguf.txt"
"$cli" generate --model "$gguf/tiny-7v0-834K/tiny-rwkv-7v0-834K-Q4_0.gguf" "Once upon a time" --seed 7 --max-tokens 16 > "$work/gen-q4.txt"
[[ -s "$work/gen-q4.txt" ]] || fail "generate on a Q4_0 GGUF produced no text"
"$cli" convert --model "$tiny" --out "$work/a.gguf" --precision q8
"$cli" convert --model "$tiny" --out "$work/b.gguf" --precision q8
cmp "$work/a.gguf" "$work/b.gguf" || fail "two conversions to GGUF differ"
"$cli" convert --model "$gguf/tiny-7v0-834K/tiny-rwkv-7v0-834K-F32.gguf" --out "$work/f32.gguf"
cmp "$work/f32.gguf" "$gguf/tiny-7v0-834K/tiny-rwkv-7v0-834K-F32.gguf" || fail "rewriting llama.cpp's F32 file changed it"

step "failures: one line, right exit code"
set +e
"$cli" info --model /nonexistent/model.pth > "$work/out.txt" 2> "$work/err.txt"; rc=$?
set -e
cat "$work/err.txt"
[[ $rc -eq 1 ]] || fail "a missing model should exit 1, not $rc"
[[ $(wc -l < "$work/err.txt") -eq 1 ]] || fail "a missing model should print exactly one line"
grep -q "^rwkv7: error: .*/nonexistent/model.pth" "$work/err.txt" || fail "the message should name the file"
set +e
"$cli" generate --model "$tiny" --top-p 7 "x" > /dev/null 2> "$work/err.txt"; rc=$?
set -e
cat "$work/err.txt"
[[ $rc -eq 2 ]] || fail "a bad option should exit 2, not $rc"
[[ $(wc -l < "$work/err.txt") -eq 1 ]] || fail "a usage error should print exactly one line"
if grep -q '   at ' "$work/err.txt"; then fail "a stack trace was printed without --verbose"; fi

echo
echo "all rwkv7 native checks passed"
