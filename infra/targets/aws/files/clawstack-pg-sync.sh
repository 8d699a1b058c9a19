#!/bin/bash
# Sets the co-located Postgres password to the current secret (it may have rotated since the
# volume was initialised). Runs over the container's local socket; the value goes through stdin.
set -euo pipefail
for i in $(seq 1 60); do docker exec clawstack-postgres pg_isready -q -U {{dbUser}} && break; sleep 2; done
pw=$(sed -n 's/^POSTGRES_PASSWORD=//p' /run/clawstack/postgres.env)
printf "ALTER USER {{dbUser}} PASSWORD '%s';\n" "${pw//\'/\'\'}" | docker exec -i clawstack-postgres psql -q -U {{dbUser}} -d {{dbName}}
