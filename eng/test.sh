#!/usr/bin/env bash
# The project's test command (README.md): builds everything with warnings as errors, runs every test project,
# then runs the numeric tests again on each narrower SIMD width the design requires
# (DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0, DOTNET_EnableHWIntrinsic=0).
# Its last line is "N passed, N failed", summed from the TRX result files of every run; the exit code is
# non-zero when anything failed or did not build.
set -uo pipefail
cd "$(dirname "$0")/.."

config=Release
results=artifacts/test-results
rm -rf "$results"
mkdir -p "$results"
status=0
extra_failed=0

run() { echo "+ $*"; "$@"; }

if ! run dotnet build Rwkv7.Gen.sln -c "$config" -nologo; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

run dotnet test Rwkv7.Gen.sln -c "$config" --no-build -nologo \
  --logger "trx" --results-directory "$results/default" || status=1

# The numeric tests (reference and generated engines against the goldens) on every SIMD width.
for setting in DOTNET_EnableAVX512=0 DOTNET_EnableAVX2=0 DOTNET_EnableHWIntrinsic=0; do
  run env "$setting" dotnet test tests/Rwkv7.Gen.Tests -c "$config" --no-build -nologo \
    --filter "FullyQualifiedName~Rwkv7.Gen.Tests.Numerics" \
    --logger "trx" --results-directory "$results/${setting%%=*}" || status=1
done

# End-to-end checks that cannot live inside a test project (packing, publishing, running binaries): each
# script in eng/checks counts as one test.
checks_passed=0
checks_failed=0
for check in eng/checks/*.sh; do
  [[ -e "$check" ]] || continue
  echo "+ $check"
  if "$check" > "$results/$(basename "$check" .sh).log" 2>&1; then
    echo "check passed: $check"
    checks_passed=$((checks_passed + 1))
  else
    echo "check FAILED: $check (last lines of its log follow)"
    tail -n 30 "$results/$(basename "$check" .sh).log"
    checks_failed=$((checks_failed + 1))
  fi
done

passed=$checks_passed
failed=$checks_failed
count=0
while IFS= read -r -d '' trx; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  e=$(sed -n 's/.* error="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0} + ${e:-0}))
  count=$((count + 1))
done < <(find "$results" -name '*.trx' -print0)

if [[ $count -eq 0 ]]; then
  echo "no test results were produced"
  extra_failed=1
fi

if [[ $status -ne 0 && $failed -eq 0 ]]; then
  # A test run failed without recording a failed test (crash, bad filter): count it.
  extra_failed=$((extra_failed + 1))
fi

failed=$((failed + extra_failed))
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $status -eq 0 ]]
