#!/bin/bash
# Fetches every secret the containers refer to from Secrets Manager and writes each container's
# secret environment to a root-only file on tmpfs (/run/clawstack/<role>.env).
# /etc/clawstack/secrets.map lists "<name> <secret ARN>"; /etc/clawstack/<role>.secret-env holds
# the templates, where {{refPrefix}}<name>{{refSuffix}} stands for a value. Substitution is bash
# expansion with a quoted replacement, so values never appear on a command line and '&' stays '&'.
set -euo pipefail
. /etc/clawstack/deploy.env
get() { aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$1" --query SecretString --output text; }
umask 077
mkdir -p /run/clawstack
declare -A values
while read -r name arn; do
  [ -n "$name" ] || continue
  values[$name]=$(get "$arn")
done < /etc/clawstack/secrets.map
shopt -s nullglob
for template in /etc/clawstack/*.secret-env; do
  role=$(basename "$template" .secret-env)
  text=$(cat "$template")
  for name in "${!values[@]}"; do
    text=${text//"{{refPrefix}}${name}{{refSuffix}}"/"${values[$name]}"}
  done
  if [[ $text == *"{{refPrefix}}"* ]]; then
    echo "clawstack-secrets: $template refers to a secret missing from secrets.map" >&2
    exit 1
  fi
  printf '%s\n' "$text" > "/run/clawstack/$role.env"
done
# Managed Postgres: the app's database URL comes from its rotated login (kept current by a timer).
if [ -n "${DB_APP_SECRET_ARN:-}" ]; then
  /usr/local/bin/clawstack-db-url
fi
