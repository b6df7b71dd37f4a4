#!/usr/bin/env bash
# `npm test`: set up (idempotent), then every check CI runs, in order of cost.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

echo '== generated bindings match openapi.yaml'
npx tsx scripts/generate.ts --check
echo '== openapi.yaml lint'
npx redocly lint openapi.yaml --config redocly.yaml --format=stylish
echo '== typecheck'
npx turbo run typecheck --output-logs=errors-only
# bench/ and test/ are not packages: they are checked on their own.
npx tsc -p bench
npx tsc -p test
echo '== format and lint'
npx biome check .
echo '== tests'
report=$(mktemp)
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
rm -f "$report"
exit $status
