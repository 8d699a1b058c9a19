# TEST-ONLY stand-in for the workload's redis:7-alpine and postgres:16-alpine (Docker Hub is
# unreachable on the CI machines): Debian bookworm's redis-server (7.0) and PostgreSQL 15 in one
# image, with the public images' users (redis 999, postgres 70), data directories and behaviour the
# workload relies on: `sh -c 'exec redis-server …'` as the redis command, and an entrypoint that
# initialises PGDATA from POSTGRES_USER/POSTGRES_PASSWORD/POSTGRES_DB on first start. Real stacks
# keep the public images (clawstack:docker.dataImages points a stack at these only in tests).
ARG DEBIAN_BASE
FROM ${DEBIAN_BASE}
RUN groupadd --system --gid 999 redis && useradd --system --uid 999 --gid redis --home-dir /data redis \
 && groupadd --system --gid 70 postgres \
 && useradd --system --uid 70 --gid postgres --home-dir /var/lib/postgresql postgres \
 && apt-get update \
 && apt-get install -y --no-install-recommends redis-server postgresql-15 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /usr/share/doc /usr/share/man \
 && rm -rf /var/lib/postgresql/15 /etc/postgresql/15/main \
 && mkdir -p /data /var/lib/postgresql/data /var/run/postgresql \
 && chown redis:redis /data && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 3777 /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PATH=/usr/lib/postgresql/15/bin:$PATH
CMD ["/usr/local/bin/postgres-entrypoint"]
