# Comparisons of raw little-endian float32 files for the scripts in eng/checks (source this file). They are NaN-safe:
# od prints a NaN or an infinity as a word ("nan", "-nan", "inf"), which mawk turns into a NaN that every comparison
# answers false to (so a running maximum never moves and a NaN passes), and gawk into 0. Here each value must be a finite
# number written in digits, each tolerance test is written so that it passes only when it is proven true, and the
# number of values must be the one expected; anything else fails.
# AWK names the awk to run (default: awk), so that eng/checks/compare-f32-self-test.sh can try each one installed.

# One line per value: "actual expected"; a line with one field where a file is shorter than the other.
f32_pairs() {
  paste -d ' ' <(od -An -v -tf4 -w4 "$1") <(od -An -v -tf4 -w4 "$2")
}

# The awk function both comparisons use: whether a field is a finite number in decimal or exponent notation.
f32_awk_finite='function finite(s) { return s ~ /^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$/ }'

# compare_f32_max_abs ACTUAL EXPECTED COUNT TOLERANCE
# Both files hold COUNT finite values, and every |actual - expected| < TOLERANCE.
compare_f32_max_abs() {
  local actual=$1 expected=$2 count=$3 tolerance=$4
  f32_pairs "$actual" "$expected" | "${AWK:-awk}" -v count="$count" -v tol="$tolerance" "$f32_awk_finite"'
    {
      n++
      if (NF != 2 || !finite($1) || !finite($2)) { bad++; if (bad == 1) first = "value " NR ": \"" $0 "\""; next }
      d = $1 - $2; if (d < 0) d = -d
      if (!(d < tol)) over++
      if (d > max) max = d
    }
    END {
      printf "max |actual - expected| = %.3g over %d values (%d expected, tolerance %g)\n", max, n, count, tol
      if (bad) printf "%d values are not finite numbers in both files; the first: %s\n", bad, first
      if (over) printf "%d values differ by %g or more\n", over, tol
      exit !(n == count && bad == 0 && over == 0)
    }'
}

# compare_f32_rows ACTUAL EXPECTED ROWS COLUMNS RELATIVE
# Both files hold ROWS x COLUMNS finite values (row-major), and in every row max |actual - expected| <= RELATIVE times
# the standard deviation of the expected row (the design's tolerance for logits against the float64 goldens).
compare_f32_rows() {
  local actual=$1 expected=$2 rows=$3 cols=$4 relative=$5
  f32_pairs "$actual" "$expected" | "${AWK:-awk}" -v rows="$rows" -v cols="$cols" -v rel="$relative" "$f32_awk_finite"'
    {
      n++
      if (NF != 2 || !finite($1) || !finite($2)) { bad++; if (bad == 1) first = "value " NR ": \"" $0 "\""; next }
      d = $1 - $2; if (d < 0) d = -d
      if (d > rowmax) rowmax = d
      sum += $2; sumsq += $2 * $2; k++
      if (k == cols) {
        r++
        var = sumsq / cols - (sum / cols) * (sum / cols)
        std = var > 0 ? sqrt(var) : 0
        ratio = std > 0 ? rowmax / std : -1
        if (!(std > 0 && rowmax <= rel * std)) { over++; if (over == 1) worst_row = r }
        if (ratio > worst) worst = ratio
        k = 0; sum = 0; sumsq = 0; rowmax = 0
      }
    }
    END {
      printf "largest max |actual - expected| / row std = %.3g over %d rows of %d (%d x %d expected, tolerance %g)\n", worst, r, cols, rows, cols, rel
      if (bad) printf "%d values are not finite numbers in both files; the first: %s\n", bad, first
      if (over) printf "%d rows differ by more than %g of their std (or have none); the first: row %d\n", over, rel, worst_row
      exit !(n == rows * cols && r == rows && bad == 0 && over == 0)
    }'
}
