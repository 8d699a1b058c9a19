#!/bin/bash
# Every minute (timer): when the api container has been unhealthy (Docker health check, from the
# workload's liveness probe) for UNHEALTHY_MINUTES checks in a row, mark the instance unhealthy.
# Behind an ALB its health check does this; with only EC2 health checks nothing else would.
set -u
. /etc/clawstack/deploy.env
state=/run/clawstack/api-unhealthy-count
status=$(docker inspect --format '{{.State.Health.Status}}' clawstack-api 2>/dev/null || echo missing)
if [ "$status" = unhealthy ]; then
  n=$(( $(cat "$state" 2>/dev/null || echo 0) + 1 ))
else
  n=0
fi
echo "$n" > "$state"
[ "$n" -ge "${UNHEALTHY_MINUTES:-10}" ] && exec /usr/local/bin/clawstack-unhealthy
exit 0
