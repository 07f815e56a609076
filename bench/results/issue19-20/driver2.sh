#!/usr/bin/env bash
set -u
OUT=/work/main/bench/results/issue19-20
SAMPLER=/tmp/after/bench/cpu_sampler.py
export MAISON_REFERENCE_PATH=/work/shared/reference
run() {
  local tree=$1 bench=$2 label=$3 n=$4; shift 4
  local dir=/tmp/$tree name=$label-$tree-$n
  uptime > $OUT/$name.load
  echo "== $name $(date -u +%H:%M:%S)" >&2
  (cd $dir && /tmp/after/.venv/bin/python $SAMPLER $OUT/$name.cpu.json -- $dir/.venv/bin/python bench/$bench.py "$@" > $OUT/$name.txt 2>&1)
  uptime >> $OUT/$name.load
  cp $dir/bench/results/$bench.json $OUT/$name.json 2>/dev/null
}
for n in 1 2 3; do
  run after mss mss300sat $n --messages 300 --saturation-only
done
run after mss mss1000 3 --messages 1000 --saturation-only
echo done >&2
