#!/bin/bash
# Daily: archive local logs older than LOCAL_LOG_DAYS to S3 (then delete them), trim the journal,
# temp files, stopped containers and unused images.
set -u
. /etc/clawstack/deploy.env
. /usr/local/lib/clawstack/imds.sh
id=$(imds instance-id)
mkdir -p /var/log/clawstack
find /var/log/clawstack -type f -mtime +"$LOCAL_LOG_DAYS" ! -name '*.gz' -exec gzip -f {} \;
find /var/log/clawstack -type f -name '*.gz' -print0 | while IFS= read -r -d '' f; do
  aws s3 cp --only-show-errors "$f" "s3://$BUCKET/$LOG_PREFIX$STACK/$id/${f#/var/log/clawstack/}" && rm -f "$f"
done
journalctl --vacuum-time="${LOCAL_LOG_DAYS}d" >/dev/null
find /tmp /var/tmp -xdev -type f -atime +2 -delete 2>/dev/null || true
docker container prune -f >/dev/null
docker image prune -af --filter until=168h >/dev/null
