#!/usr/bin/env bash
# Idempotent setup, run first by `npm start` and `npm test`: npm packages, the Debian packages
# vmkeep needs (QEMU and the tools that build the guest), and the default guest image.
# Each step does nothing when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*" >&2; }

# 1. Node.js: vmkeep needs 20.18 or newer.
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=18)?0:1)' \
  || { log "Node.js >= 20.18 is required (found $(node --version))"; exit 1; }

# 2. Debian packages. Installed when missing and running as root; otherwise say what to run.
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
[ -x /bin/busybox ] || need+=(busybox-static)
command -v cpio >/dev/null || need+=(cpio)
command -v zstd >/dev/null || need+=(zstd)
# jq reads the API's JSON in the README's quickstart.
command -v jq >/dev/null || need+=(jq)
# python3, make and g++ build better-sqlite3's native addon.
command -v make >/dev/null || need+=(make)
command -v g++ >/dev/null || need+=(g++)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    log "missing packages: ${need[*]}"
    log "run: sudo apt-get update && sudo apt-get install -y ${need[*]}"
    exit 1
  fi
fi

# 3. npm packages: `npm ci` when node_modules is missing or older than package-lock.json.
stamp=node_modules/.vmkeep-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "installing npm packages (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi

# 4. The default guest image (kernel + initramfs), built once into the shared cache.
bash scripts/build-guest.sh
