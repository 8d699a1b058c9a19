#!/bin/bash
# Drains the app when EC2 announces a spot interruption (two minutes' notice) or Auto Scaling
# marks this instance for termination (scale-in, rebalance, refresh): leave the target group,
# SIGTERM the containers (the app drains within DRAIN_TIMEOUT_MS), then let termination go on.
set -u
. /etc/clawstack/deploy.env
. /usr/local/lib/clawstack/imds.sh
while sleep 5; do
  notice=""
  imds spot/instance-action >/dev/null 2>&1 && notice=spot
  [ "$(imds autoscaling/target-lifecycle-state 2>/dev/null)" = Terminated ] && notice=autoscaling
  [ -z "$notice" ] && continue
  id=$(imds instance-id)
  logger -t clawstack-drain "$notice termination notice: draining (grace ${STOP_GRACE_SECONDS}s)"
  if [ -n "${TARGET_GROUP_ARN:-}" ]; then
    aws elbv2 deregister-targets --region "$AWS_REGION" --target-group-arn "$TARGET_GROUP_ARN" --targets "Id=$id" || true
  fi
  systemctl stop clawstack-api.service clawstack-worker.service
  aws autoscaling complete-lifecycle-action --region "$AWS_REGION" --auto-scaling-group-name "$ASG_NAME" \
    --lifecycle-hook-name "$DRAIN_HOOK" --instance-id "$id" --lifecycle-action-result CONTINUE || true
  exit 0
done
