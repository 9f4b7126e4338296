#!/usr/bin/env bash
# The project's test command (README.md): builds everything with warnings as errors, runs every test project,
# then runs the width-dependent tests again on each narrower SIMD width the design requires
# (DOTNET_EnableAVX512=0, DOTNET_EnableAVX2=0, DOTNET_EnableHWIntrinsic=0), and each script in eng/checks.
# Before its last line it says which vector width each run used (as the tests found it) and how many tests each
# rerun executed; a rerun that executed too few tests, ran wider than its setting allows, or did not report its
# width counts as a failure. Its last line is "N passed, N failed", summed from the TRX result files of every run;
# the exit code is non-zero when anything failed or did not build. It refuses to run while snapshots would be
# accepted instead of compared.
set -uo pipefail
cd "$(dirname "$0")/.."

# Snapshot tests rewrite their baselines and pass when either of these is set: a run that accepts whatever the
# generator now emits proves nothing, so the test command (and CI) refuses to start.
for variable in RWKV7_ACCEPT_SNAPSHOTS VERIFY_AUTOVERIFY; do
  if [[ -n ${!variable+set} ]]; then
    echo "$variable is set (to '${!variable}'): snapshot baselines would be rewritten instead of compared."
    echo "Unset it to run the tests; accept snapshots on purpose with the generator tests alone (see tests/Rwkv7.Gen.Generator.Tests)."
    echo "0 passed, 1 failed"
    exit 1
  fi
done

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

# The width-dependent tests on every SIMD width: the Numerics namespace (reference and generated engines against the
# goldens, the kernels, quantizers and conversions) and the classes elsewhere marked [Trait("Simd", "AllWidths")]
# (sampling's probability kernels, conversions at load). Each rerun must execute at least $min_rerun_tests tests
# (about 90% of them today: raise it as tests are added), so a filter that matches little or nothing fails.
rerun_filter="FullyQualifiedName~Rwkv7.Gen.Tests.Numerics.|Simd=AllWidths"
min_rerun_tests=220
rerun_settings=(DOTNET_EnableAVX512=0 DOTNET_EnableAVX2=0 DOTNET_EnableHWIntrinsic=0)
for setting in "${rerun_settings[@]}"; do
  run env "$setting" dotnet test tests/Rwkv7.Gen.Tests -c "$config" --no-build -nologo \
    --filter "$rerun_filter" \
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

# What each run's VectorWidthTests found (it writes "rwkv7-simd-width=..." into the test results).
width_of() {
  grep -rhoE "rwkv7-simd-$2=[0-9a-z-]+" "$1" --include='*.trx' 2> /dev/null | head -n 1 | cut -d= -f2
}
executed_in() {
  local trx
  trx=$(find "$1" -name '*.trx' | head -n 1)
  [[ -n $trx ]] && grep -o '<Counters [^>]*>' "$trx" | head -n 1 | sed -n 's/.* executed="\([0-9]*\)".*/\1/p'
}
bits() { case $1 in scalar) echo 0 ;; *) echo "${1%-bit}" ;; esac; }

default_width=$(width_of "$results/default" width)
cpu_width=$(width_of "$results/default" cpu)
if [[ -z $default_width ]]; then
  echo "the default run reported no vector width (VectorWidthTests did not run)"
  extra_failed=$((extra_failed + 1))
  default_width=unknown
fi
widths="default run ${default_width} (CPU: ${cpu_width:-unknown})"
exercised=()
[[ $default_width == unknown ]] || exercised+=("$default_width")
repeats=()
for setting in "${rerun_settings[@]}"; do
  name=${setting%%=*}
  width=$(width_of "$results/$name" width)
  executed=$(executed_in "$results/$name")
  case $name in
    DOTNET_EnableAVX512) ceiling=256 ;;
    DOTNET_EnableAVX2) ceiling=128 ;;
    *) ceiling=0 ;;
  esac
  if [[ -z $width ]]; then
    echo "the $setting run reported no vector width (VectorWidthTests did not run)"
    extra_failed=$((extra_failed + 1))
    width=unknown
  elif (( $(bits "$width") > ceiling )); then
    echo "the $setting run used $width vectors: the setting did not reach the tests"
    extra_failed=$((extra_failed + 1))
  fi
  if (( ${executed:-0} < min_rerun_tests )); then
    echo "the $setting run executed ${executed:-0} tests, fewer than the $min_rerun_tests required"
    extra_failed=$((extra_failed + 1))
  fi
  widths+="; $setting ${width} (${executed:-0} tests)"
  if [[ $width == unknown ]]; then
    continue
  elif [[ " ${exercised[*]} " == *" $width "* ]]; then
    repeats+=("the $setting run repeated the ${width} width of an earlier run")
  else
    exercised+=("$width")
  fi
done
echo "vector widths: $widths"
echo "widths exercised: ${exercised[*]:-none}"
if [[ $default_width != 512-bit ]]; then
  echo "NOTE: the default run used ${default_width} vectors (CPU: ${cpu_width:-unknown}): the 512-bit kernels were NOT exercised on this machine."
fi
for repeat in "${repeats[@]}"; do
  echo "NOTE: $repeat: it tested no new width."
done

if [[ $status -ne 0 && $failed -eq 0 ]]; then
  # A test run failed without recording a failed test (crash, bad filter): count it.
  extra_failed=$((extra_failed + 1))
fi

failed=$((failed + extra_failed))
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && $status -eq 0 ]]
