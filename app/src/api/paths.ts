/**
 * The operational paths every deployment relies on: probes and the metrics scrape. Infra reads them
 * from here (infra/workload), so a probe can never point at a path the app does not serve.
 */
export const HEALTH_LIVE_PATH = '/v2/health/live';
export const HEALTH_READY_PATH = '/v2/health/ready';
export const METRICS_PATH = '/metrics';
/** The port the app listens on in containers (PORT). */
export const APP_CONTAINER_PORT = 8080;
