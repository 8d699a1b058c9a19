/**
 * Workload container → the Docker provider's container settings. Pure: every decision about names,
 * health checks, limits, mounts and published ports is made here and tested beside the code
 * (test/infra/docker.test.ts); ./index.ts only wires resources together.
 */
import type { Container, Probe, Volume } from '../../workload/index.ts';

/** Name of a role's container; also its host name on the stack's network. */
export const containerName = (prefix: string, role: string) => `${prefix}-${role}`;
/** Name of a persistent volume. */
export const volumeName = (prefix: string, volume: string) => `${prefix}-${volume}`;

/** A Docker HEALTHCHECK in the provider's shape (durations as Go duration strings). */
export interface Healthcheck {
  tests: string[];
  interval: string;
  timeout: string;
  retries: number;
  startPeriod?: string;
  startInterval?: string;
}

/** Extra time an HTTP health check gets for starting its Node process. */
export const HTTP_CHECK_START_SECONDS = 5;

/** An HTTP probe run inside a Node image: exit 0 on a 2xx from the app's own path. */
function httpCheck(path: string, port: number): string[] {
  const script = `fetch('http://127.0.0.1:${port}${path}').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))`;
  return ['CMD', 'node', '-e', script];
}

/**
 * The container's HEALTHCHECK from its readiness probe (Docker has one check: the one traffic and
 * `docker ps` should trust); the startup probe's budget becomes the start period.
 */
export function healthcheck(probes: Container['probes']): Healthcheck {
  const p: Probe = probes.readiness;
  const http = p.check.kind === 'http';
  const tests = p.check.kind === 'http' ? httpCheck(p.check.path, p.check.port) : ['CMD', ...p.check.command];
  const start = probes.startup;
  return {
    tests,
    interval: `${p.periodSeconds}s`,
    // Docker runs an HTTP check as a new Node process inside the CPU-limited container (a kubelet
    // probe is a request from outside): measured, its start alone exceeds 3 s on a busy 1-CPU worker.
    timeout: `${p.timeoutSeconds + (http ? HTTP_CHECK_START_SECONDS : 0)}s`,
    retries: p.failureThreshold,
    ...(start
      ? {
          startPeriod: `${start.periodSeconds * start.failureThreshold}s`,
          startInterval: `${Math.max(1, Math.min(start.periodSeconds, 2))}s`,
        }
      : {}),
  };
}

/** CPU and memory limits: the limit as `cpus`, the request as relative shares, memory in MiB. */
export function limits(c: Container) {
  return {
    cpus: String(c.resources.cpuLimitMillis / 1000),
    cpuShares: Math.round((c.resources.cpuMillis * 1024) / 1000),
    memory: c.resources.memoryMiB,
    memorySwap: c.resources.memoryMiB, // no swap beyond the limit: the limit means what it says
  };
}

/** NVIDIA device requests for the GPUs the container asks for (none on CPU tiers). */
export function deviceRequests(c: Container) {
  return c.resources.gpus > 0 ? [{ driver: 'nvidia', count: c.resources.gpus, capabilities: ['gpu'] }] : [];
}

/** Scratch volumes as tmpfs mounts (root stays read-only); sizes are not capped beyond memory. */
export function tmpfs(volumes: Volume[]): Record<string, string> {
  return Object.fromEntries(volumes.filter((v) => v.kind === 'scratch').map((v) => [v.mountPath, 'rw']));
}

/** Persistent volumes of a container, by the Docker volume names they get. */
export function persistentMounts(prefix: string, volumes: Volume[]) {
  return volumes
    .filter((v) => v.kind === 'persistent')
    .map((v) => ({ volumeName: volumeName(prefix, v.name), containerPath: v.mountPath }));
}

/** Publishes the container's public ports on the host address; internal ports stay on the network. */
export function publishedPorts(c: Container, hostAddress: string, hostPort: number) {
  return c.ports
    .filter((p) => p.exposure === 'public')
    .map((p) => ({ internal: p.port, external: hostPort, ip: hostAddress, protocol: 'tcp' }));
}

/** Plain environment as `NAME=value` lines, sorted so a plan diff shows only real changes. */
export function envLines(env: Record<string, string>): string[] {
  return Object.entries(env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`);
}

/** Labels in the provider's shape. */
export const labelList = (labels: Record<string, string>) =>
  Object.entries(labels).map(([label, value]) => ({ label, value }));

/** Where clients reach the API: the domain over TLS, or the published host address. */
export function apiUrl(domain: string | undefined, hostAddress: string, hostPort: number): string {
  if (domain) return `https://${domain}`;
  const host = hostAddress === '0.0.0.0' ? '127.0.0.1' : hostAddress;
  return `http://${host}:${hostPort}`;
}

/** The Dockerfile that builds the image for a tier (repository-relative). */
export const dockerfileFor = (gpu: boolean) => (gpu ? 'app/Dockerfile.gpu' : 'app/Dockerfile');

/** How long `pulumi up` waits for a container's health check before failing: its startup budget. */
export function healthWaitSeconds(c: Container): number {
  const start = c.probes.startup;
  const r = c.probes.readiness;
  return (
    (start ? start.periodSeconds * start.failureThreshold : 0) + r.periodSeconds * r.failureThreshold + 30
  );
}
