#!/usr/bin/env bash
# Before/after, side by side: the Invoke, SQS, S3 and DynamoDB benchmarks of two checkouts,
# alternating (round 1: A then B; round 2: B then A), one at a time. Each checkout needs its
# own .venv (python3 -m venv .venv && .venv/bin/pip install -q -c constraints.txt -e '.[test]').
#
#   bench/ab.sh /path/to/before /path/to/after [OUT_DIR]
#
# Figures land in OUT_DIR (default /tmp/squall-ab), one file per benchmark, checkout and round.
set -euo pipefail
a=$(cd "$1" && pwd); b=$(cd "$2" && pwd); out=${3:-/tmp/squall-ab}
mkdir -p "$out"
declare -A args=(
  [invoke]="bench/invoke.py --duration 8 --repeat 3"
  [sqs]="bench/sqs.py --no-baseline --duration 8"
  [s3]="bench/s3.py --duration 8 --medium-kb 0 --no-baseline"
  [dynamodb]="bench/dynamodb.py --duration 6 --no-baseline --ops put,get --items 1000"
)
for round in 1 2; do
  for bench in invoke sqs s3 dynamodb; do
    order=("A:$a" "B:$b"); [ "$round" = 2 ] && order=("B:$b" "A:$a")
    for who in "${order[@]}"; do
      name=${who%%:*}; dir=${who#*:}
      echo "$(date +%T) $bench $name round $round"
      # shellcheck disable=SC2086
      (cd "$dir" && .venv/bin/python ${args[$bench]}) > "$out/${bench}_${name}_$round.txt" 2>&1
      grep -E "requests/s|messages/s" "$out/${bench}_${name}_$round.txt" | sed "s/^/    /"
    done
  done
done
