#!/usr/bin/env bash
# Publishes the rwkv7 CLI once with NativeAOT (the AVX2 build, as released for x64) and checks the native binary
# end to end on the tiny fixture: logits against rwkv.cpp's expected values, the vector width it reports,
# `bench --shape tiny`, seeded generation being repeatable, a piped chat that saves and reloads its state,
# tokenize, perplexity, GGUF files (info, generation, convert), the generated help, --version and a suggestion for a
# mistyped option (the parser's help text and messages survive trimming), one-line failures with the right exit codes, and
# `serve` on a free loopback port (/health, one completion, a clean stop on SIGTERM). The publish must print no warning.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$repo/eng/lib/compare-f32.sh"
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
compare_f32_max_abs "$work/logits.f32" "$fixtures/tiny-7v0-834K/expected-logits-7v0-834K.bin" 256 1e-4 ||
  fail "logits are not all finite and within 1e-4 of rwkv.cpp's"

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

step "help, --version, a mistyped option"
"$cli" generate --help > "$work/help.txt" || fail "generate --help should exit 0"
grep -q -- '^  --max-tokens <N> ' "$work/help.txt" || fail "generate --help should list --max-tokens"
"$cli" chat -h > "$work/help-chat.txt" || fail "chat -h should exit 0"
grep -q -- '^  --system <TEXT> ' "$work/help-chat.txt" || fail "chat -h should list --system"
"$cli" --version | tee "$work/version.txt"
grep -Eq '^rwkv7 [0-9]+\.[0-9]+\.[0-9]+' "$work/version.txt" || fail "--version should print the version"
set +e
"$cli" generate --model "$tiny" --sed 1 "x" > /dev/null 2> "$work/err.txt"; rc=$?
set -e
cat "$work/err.txt"
[[ $rc -eq 2 ]] || fail "a mistyped option should exit 2, not $rc"
grep -q "did you mean --seed?" "$work/err.txt" || fail "a mistyped option should suggest the right one"

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

step "serve: /health, one completion, SIGTERM"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
"$cli" serve --model "$tiny" --port "$port" --api-key native-check > "$work/serve.out" 2> "$work/serve.err" &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health" > "$work/health.json" 2>/dev/null && break
  sleep 0.1
done
cat "$work/health.json"; echo
grep -q '"status":"ok"' "$work/health.json" || { kill "$server"; fail "serve: /health did not answer"; }
grep -q "^rwkv7 serve: listening on http://127.0.0.1:$port " "$work/serve.out" || { kill "$server"; fail "serve should print one line saying where it listens"; }
curl -sf "http://127.0.0.1:$port/v1/completions" -H "Authorization: Bearer native-check" -H 'Content-Type: application/json' \
  -d '{"prompt":"Once upon a time","max_tokens":8,"temperature":0,"presence_penalty":0,"frequency_penalty":0}' | tee "$work/completion.json"; echo
grep -q '"finish_reason":"length"' "$work/completion.json" || { kill "$server"; fail "serve: the completion did not come back"; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v1/models")
[[ $code == 401 ]] || { kill "$server"; fail "serve: a call without the API key should be 401, not $code"; }
kill -TERM "$server"
set +e
wait "$server"; rc=$?
set -e
cat "$work/serve.err"
[[ $rc -eq 0 ]] || fail "serve should exit 0 on SIGTERM, not $rc"
grep -q '"POST /v1/completions" 200' "$work/serve.err" || fail "serve should log one line per request on standard error"

echo
echo "all rwkv7 native checks passed"
