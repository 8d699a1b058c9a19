#!/bin/bash
# Writes the app's Postgres URL from its login's secret (rotated by alternating users: the secret
# names whichever of <user> / <user>_clone has the newest password) to /run/clawstack/db/database-url.
# The app containers mount that directory read-only (DATABASE_URL_FILE) and re-read the file when
# Postgres refuses a new connection's login. Runs at boot (from clawstack-secrets) and every few
# minutes (clawstack-db-url.timer); the file is replaced atomically, and only when it changes.
# /etc/clawstack/database-url.template holds the URL with {{username}} and {{password}} to fill in.
set -euo pipefail
. /etc/clawstack/deploy.env
dir=/run/clawstack/db
umask 077
mkdir -p "$dir"
chmod 0755 "$dir"
secret=$(aws secretsmanager get-secret-value --region "$AWS_REGION" --secret-id "$DB_APP_SECRET_ARN" \
  --query SecretString --output text)
# cloud-init runs on python3, so it is on every instance; the values are URL-encoded into the template.
fill='import json, sys, urllib.parse as u
s = json.load(sys.stdin)
t = open(sys.argv[1]).read().strip()
for k in ("username", "password"):
    t = t.replace("{{" + k + "}}", u.quote(s[k], safe=""))
print(t)'
url=$(printf '%s' "$secret" | python3 -c "$fill" /etc/clawstack/database-url.template)
if [ -f "$dir/database-url" ] && [ "$(cat "$dir/database-url")" = "$url" ]; then
  exit 0
fi
tmp=$(mktemp "$dir/.database-url.XXXXXX")
printf '%s\n' "$url" > "$tmp"
chown "$APP_UID" "$tmp"
chmod 0400 "$tmp"
mv -f "$tmp" "$dir/database-url"
user=$(printf '%s' "$secret" | python3 -c 'import json, sys; print(json.load(sys.stdin)["username"])')
echo "clawstack-db-url: the app's database login is now $user"
