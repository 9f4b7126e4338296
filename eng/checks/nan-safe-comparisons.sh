#!/usr/bin/env bash
# The float32 comparisons the other checks use (eng/lib/compare-f32.sh) must fail on anything that is not a finite
# number within tolerance: a NaN (as "nan" or "-nan", in either file, even in both at the same place), an infinity, a
# missing value, a difference at the tolerance. Each case runs with every awk installed (Debian's default is mawk, under
# which the old check let a NaN pass).
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
source "$repo/eng/lib/compare-f32.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# float32 values as little-endian bytes.
one='\x00\x00\x80\x3f'         # 1.0
near='\x01\x00\x80\x3f'        # 1.0000001
two='\x00\x00\x00\x40'         # 2.0
nan='\x00\x00\xc0\x7f'         # quiet NaN (od: nan)
negnan='\x00\x00\xc0\xff'      # NaN with the sign bit (od: -nan)
inf='\x00\x00\x80\x7f'         # +infinity
f32() { local name=$1; shift; printf "$(printf '%s' "$@")" > "$work/$name.f32"; }

f32 ones "$one" "$one" "$one" "$one"
f32 near "$one" "$near" "$one" "$one"
f32 far "$one" "$two" "$one" "$one"
f32 nan "$one" "$nan" "$one" "$one"
f32 negnan "$one" "$one" "$one" "$negnan"
f32 inf "$inf" "$one" "$one" "$one"
f32 short "$one" "$one" "$one"
f32 rows "$one" "$two" "$one" "$two"       # two rows of two: std 0.5 each
f32 rows_near "$one" "$two" "$near" "$two"
f32 rows_nan "$one" "$two" "$nan" "$two"

cases=0
passes() { cases=$((cases + 1)); "$@" > "$work/out.txt" 2>&1 || { cat "$work/out.txt"; fail "$AWK: should pass: ${*:1:3}"; }; }
fails() { cases=$((cases + 1)); if "$@" > "$work/out.txt" 2>&1; then cat "$work/out.txt"; fail "$AWK: should fail: ${*:1:3}"; fi; }

# Every awk installed, each binary once (awk is a link to one of them).
awks=()
seen=" "
for candidate in awk mawk gawk original-awk; do
  path=$(command -v "$candidate" 2> /dev/null) || continue
  path=$(readlink -f "$path")
  [[ $seen == *" $path "* ]] && continue
  seen+="$path "
  awks+=("$candidate")
done

for AWK in "${awks[@]}"; do
  export AWK
  echo "== $AWK ($(readlink -f "$(command -v "$AWK")"))"
  passes compare_f32_max_abs "$work/ones.f32" "$work/ones.f32" 4 1e-4
  passes compare_f32_max_abs "$work/near.f32" "$work/ones.f32" 4 1e-4
  fails compare_f32_max_abs "$work/far.f32" "$work/ones.f32" 4 1e-4
  fails compare_f32_max_abs "$work/far.f32" "$work/ones.f32" 4 1          # a difference of exactly the tolerance
  fails compare_f32_max_abs "$work/nan.f32" "$work/ones.f32" 4 1e-4
  fails compare_f32_max_abs "$work/ones.f32" "$work/nan.f32" 4 1e-4
  fails compare_f32_max_abs "$work/nan.f32" "$work/nan.f32" 4 1e-4        # NaN in both at the same place
  fails compare_f32_max_abs "$work/negnan.f32" "$work/ones.f32" 4 1e-4
  fails compare_f32_max_abs "$work/inf.f32" "$work/ones.f32" 4 1e-4
  fails compare_f32_max_abs "$work/inf.f32" "$work/inf.f32" 4 1e-4
  fails compare_f32_max_abs "$work/short.f32" "$work/ones.f32" 4 1e-4
  fails compare_f32_max_abs "$work/short.f32" "$work/short.f32" 4 1e-4    # fewer values than expected
  passes compare_f32_rows "$work/rows.f32" "$work/rows.f32" 2 2 1e-4
  passes compare_f32_rows "$work/rows_near.f32" "$work/rows.f32" 2 2 1e-4
  fails compare_f32_rows "$work/rows_near.f32" "$work/rows.f32" 2 2 1e-8
  fails compare_f32_rows "$work/rows_nan.f32" "$work/rows.f32" 2 2 1e-4
  fails compare_f32_rows "$work/rows_nan.f32" "$work/rows_nan.f32" 2 2 1e-4
  fails compare_f32_rows "$work/ones.f32" "$work/ones.f32" 2 2 1e-4      # rows with no spread cannot scale a tolerance
  fails compare_f32_rows "$work/short.f32" "$work/short.f32" 2 2 1e-4
  fails compare_f32_rows "$work/rows.f32" "$work/rows.f32" 3 2 1e-4      # fewer rows than expected
done
echo
echo "$cases cases with ${#awks[@]} awk(s): NaN, infinity, missing values and differences at the tolerance failed; the rest passed"
