#!/usr/bin/env bash
# Starts a local Docker engine when none answers (Debian's docker.io: dockerd as root, overlay2, the
# legacy builder) and waits until it does. Idempotent: an engine that already answers is left alone.
# Exit 0: `docker info` works; exit 1: it could not be started (the reason is printed).
set -euo pipefail
LOG=${DOCKERD_LOG:-/var/log/clawstack-dockerd.log}
WAIT_S=${DOCKERD_WAIT_S:-60}

if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null; then
  echo "engine.sh: dockerd is not installed (apt-get install docker.io)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "engine.sh: no Docker engine answers and starting dockerd needs root" >&2
  exit 1
fi
echo "engine.sh: starting dockerd (overlay2), log: $LOG"
# setsid: the engine outlives this script and the CI job step that started it.
setsid dockerd --storage-driver overlay2 >>"$LOG" 2>&1 </dev/null &
for _ in $(seq 1 "$WAIT_S"); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "engine.sh: dockerd did not answer within ${WAIT_S} s; last log lines:" >&2
tail -n 20 "$LOG" >&2
exit 1
