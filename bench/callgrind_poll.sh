#!/bin/sh
# Instructions per paced Modbus poll, coldwatch's and a bare pymodbus loop's, counted by
# callgrind (deterministic, unlike CPU time on a shared machine): each side runs twice with a
# different number of polls, and the difference per poll leaves the start-up out.
# Usage: bench/callgrind_poll.sh [LOW HIGH]   (from the repository root, with .venv set up)
set -eu
low=${1:-100}
high=${2:-500}
py=${PYTHON:-.venv/bin/python}
count() {  # side polls -> total instructions of the run
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$py" -m bench.profile_poll "$1" "$2" \
    2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for side in ${SIDES:-bare ours}; do
  a=$(count "$side" "$low")
  b=$(count "$side" "$high")
  echo "$side: $(( (b - a) / (high - low) )) instructions per poll ($a at $low polls, $b at $high)"
done
