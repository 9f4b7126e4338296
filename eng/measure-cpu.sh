#!/usr/bin/env bash
# Measures every choice of this processor's tuning (issue 20) with the shipped CLI, for a table in docs/benchmarks.md
# ("Per-CPU tuning"): the floors and speeds of 0.1B at bf16, 8-bit and 4-bit on one and two threads, at 512 bits (where
# the processor has them) and at 256 (DOTNET_EnableAVX512=0, the x86-64-v3 build's width), the tiny shape on one
# thread, the calibrations `rwkv7 tune` runs, and in-process A/B pairs (`bench --ab`) of each choice a table entry
# makes: the prefetch hint, the split threshold, parts per thread and the 4-bit prompt threshold. Every command's
# whole output goes to a folder; summary.md there keeps the lines a table needs, under the command that printed them.
#
#   eng/measure-cpu.sh            # about 40 minutes on 2 cores
#   eng/measure-cpu.sh --quick    # a few pairs and runs: checks that everything runs, measures little
#
# The machine is usually shared: run it when nothing else runs, compare only within one run, and read a B/A within
# ±3% (or won by barely more than half the pairs) as no difference.
set -euo pipefail
cd "$(dirname "$0")/.."

pairs=12
runs=5
if [[ ${1:-} == --quick ]]; then
  pairs=2
  runs=1
elif [[ $# -gt 0 ]]; then
  echo "usage: eng/measure-cpu.sh [--quick]" >&2
  exit 2
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=artifacts/measure-cpu/$stamp
mkdir -p "$out"
dotnet build samples/Rwkv7.Cli -c Release -nologo --artifacts-path artifacts/measure-cpu/build > "$out/build.log"
cli=(dotnet artifacts/measure-cpu/build/bin/Rwkv7.Cli/release/rwkv7.dll)
summary=$out/summary.md

{
  echo "# CPU measurements, $stamp"
  echo
  echo '```'
  lscpu | grep -E '^(Model name|Vendor ID|CPU family|Model|Stepping|CPU\(s\)|L1d|L2|L3|Flags)' | sed -E 's/^(Flags:\s+).*/\1(see lscpu.txt)/'
  echo '```'
} > "$summary"
lscpu > "$out/lscpu.txt"

# Runs one command, keeps its whole output, and copies the lines a table needs into the summary.
step() {
  local name=$1 width=$2
  shift 2
  local log=$out/$name.log
  echo "+ [$width] $*"
  if [[ $width == 256 ]]; then
    DOTNET_EnableAVX512=0 "${cli[@]}" "$@" > "$log" 2>&1 || { echo "failed: see $log" >&2; exit 1; }
  else
    "${cli[@]}" "$@" > "$log" 2>&1 || { echo "failed: see $log" >&2; exit 1; }
  fi

  {
    echo
    echo "## $name ($width-bit dispatch): rwkv7 $*"
    echo '```'
    grep -E '^(cpu|tuning|table|in use|bandwidth|fma peak|decode|prefill|batch|calibration|  prefetch|prompts|  +[0-9]+ rows|chosen|generated|A/B)' "$log" || true
    echo '```'
  } >> "$summary"
}

step tune-q4 512 tune --shape 0.1b --precision q4
for width in 512 256; do
  for precision in bf16 q8 q4; do
    step "bench-$precision-2t-$width" "$width" bench --shape 0.1b --precision "$precision" --threads 2 --runs "$runs"
  done

  step "bench-bf16-1t-$width" "$width" bench --shape 0.1b --precision bf16 --threads 1 --runs "$runs"
  step "bench-q4-1t-$width" "$width" bench --shape 0.1b --precision q4 --threads 1 --runs "$runs"
  step "bench-tiny-1t-$width" "$width" bench --shape tiny --threads 1 --runs "$runs"
  step "profile-q4-2t-$width" "$width" bench --shape 0.1b --precision q4 --threads 2 --runs "$runs" --profile

  # Each choice of the table entry against another value, the rest of the tuning kept (A: the tuning in use).
  step "ab-prefetch-bf16-2t-$width" "$width" bench --shape 0.1b --threads 2 --ab "$pairs" --ab-switch prefetch
  step "ab-prefetch-bf16-1t-$width" "$width" bench --shape 0.1b --threads 1 --ab "$pairs" --ab-switch prefetch
  step "ab-prefetch-q4-2t-$width" "$width" bench --shape 0.1b --precision q4 --threads 2 --ab "$pairs" --ab-switch prefetch
  for split in 8 20; do
    step "ab-split$split-q4-2t-$width" "$width" bench --shape 0.1b --precision q4 --threads 2 --ab "$pairs" --ab-switch "split=$split"
  done
  for parts in 1 3; do
    step "ab-parts$parts-bf16-2t-$width" "$width" bench --shape 0.1b --threads 2 --ab "$pairs" --ab-switch "parts=$parts"
  done
  for rows in 0 16; do
    step "ab-prompts$rows-q4-2t-$width" "$width" bench --shape 0.1b --precision q4 --threads 2 --prefill 64 --batch 4 --ab "$pairs" --ab-switch "prompts=$rows"
  done
done

echo "done: $summary"
