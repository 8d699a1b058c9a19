#!/bin/bash
# Tells Auto Scaling this instance is unhealthy, so it is replaced. Used when the boot preparation
# failed after its retries, and (EC2 health checks see only the machine) when the api container's
# Docker health check stays unhealthy.
set -u
. /etc/clawstack/deploy.env
. /usr/local/lib/clawstack/imds.sh
id=$(imds instance-id)
logger -t clawstack-unhealthy "marking $id unhealthy"
aws autoscaling set-instance-health --region "$AWS_REGION" --instance-id "$id" --health-status Unhealthy
