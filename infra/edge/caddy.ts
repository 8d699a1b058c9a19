/**
 * The Caddy edge used where a target terminates TLS itself (the AWS lightweight instance, the Docker
 * target with a domain): automatic certificates, TLS 1.2+, /metrics only on the admin listener for
 * the admin CIDRs. The Caddyfile is a real file (Caddyfile.tmpl) rendered with Mustache.
 */
import { readFileSync } from 'node:fs';
import Mustache from 'mustache';
import { HEALTH_READY_PATH, METRICS_PATH } from '../../app/src/api/paths.ts';

export const CADDY_IMAGE = 'caddy:2';
/** The admin (metrics) listener's port on the edge. */
export const ADMIN_PORT = 9443;

const TEMPLATE = readFileSync(new URL('./Caddyfile.tmpl', import.meta.url), 'utf8');

export interface CaddyParams {
  domain: string;
  acmeEmail?: string;
  /** Sources allowed to read /metrics on the admin listener; none: no admin listener. */
  adminCidrs: string[];
  /** host:port of the api. */
  upstream: string;
}

/** The Caddyfile for one edge. Pure. */
export function renderCaddyfile(p: CaddyParams): string {
  return Mustache.render(
    TEMPLATE,
    {
      domain: p.domain,
      acmeEmail: p.acmeEmail,
      hasAdmin: p.adminCidrs.length > 0,
      adminCidrList: p.adminCidrs.join(' '),
      adminPort: ADMIN_PORT,
      upstream: p.upstream,
      metricsPath: METRICS_PATH,
      readyPath: HEALTH_READY_PATH,
    },
    {},
    { escape: (text: string) => text }, // a Caddyfile, not HTML
  );
}
