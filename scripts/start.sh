#!/usr/bin/env bash
# `npm start`: set up (idempotent), then run the API server and scheduler in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --import tsx packages/server/src/main.ts "$@"
