#!/usr/bin/env bash
# Interleaved before/after runs (issue 19 §4), each wrapped by the CPU sampler: before = 9d97194
# (/tmp/before, with the start-up wait patch), after = the working tree's HEAD (/tmp/after).
set -u
OUT=/work/main/bench/results/issue19-20
SAMPLER=/tmp/after/bench/cpu_sampler.py
export MAISON_REFERENCE_PATH=/work/shared/reference
run() {  # tree bench label n args...
  local tree=$1 bench=$2 label=$3 n=$4; shift 4
  local dir=/tmp/$tree name=$label-$tree-$n
  uptime > $OUT/$name.load
  echo "== $name $(date -u +%H:%M:%S)" >&2
  (cd $dir && /tmp/after/.venv/bin/python $SAMPLER $OUT/$name.cpu.json -- $dir/.venv/bin/python bench/$bench.py "$@" > $OUT/$name.txt 2>&1)
  uptime >> $OUT/$name.load
  cp $dir/bench/results/$bench.json $OUT/$name.json 2>/dev/null
}
INSI="--connections 8,16 --seconds 10 --modes plain,mtls"
DMP="--entries 20000 --patients 5000 --provide-connections 16 --search-connections , --max-rate 300 --seconds 10"
for n in 1 2; do
  run before mss mss $n --messages 300 --rate 3 --no-reference
  run after mss mss $n --messages 300 --rate 3
done
for n in 1 2; do
  run after mss mss1000 $n --messages 1000 --saturation-only
done
run before insi insi 1 $INSI
run after insi insi 1 $INSI
run before dmp dmp 1 $DMP
run after dmp dmp 1 $DMP
run before dmp dmp 2 $DMP
run after dmp dmp 2 $DMP
# then (09:22–09:30) more saturation runs of the after tree, the 300-message ones too short to trust alone
for n in 1 2 3; do
  run after mss mss300sat $n --messages 300 --saturation-only
done
for n in 3 4 5; do
  run after mss mss1000 $n --messages 1000 --saturation-only
done
echo done >&2
