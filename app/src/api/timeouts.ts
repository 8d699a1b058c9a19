/**
 * HTTP server timeouts, set explicitly so a slow or stalled client (slowloris: headers or a body sent a
 * byte at a time) cannot hold a connection and a socket for ever.
 */
import { createServer, type RequestListener, type Server } from 'node:http';

export interface ServerTimeoutSettings {
  /** The whole request (headers and body) must arrive within this; Node answers 408 and closes. */
  HTTP_REQUEST_TIMEOUT_MS: number;
  /** The request headers must arrive within this. */
  HTTP_HEADERS_TIMEOUT_MS: number;
  /** An idle keep-alive connection is closed after this. */
  HTTP_KEEPALIVE_TIMEOUT_MS: number;
}

/** Node's server options for these settings (pure; the headers timeout never exceeds the request one). */
export function serverTimeouts(s: ServerTimeoutSettings) {
  const requestTimeout = s.HTTP_REQUEST_TIMEOUT_MS;
  const headersTimeout = Math.min(s.HTTP_HEADERS_TIMEOUT_MS, requestTimeout);
  return {
    requestTimeout,
    headersTimeout,
    keepAliveTimeout: s.HTTP_KEEPALIVE_TIMEOUT_MS,
    // How often Node checks the two timeouts above: a tenth of the shorter one, within 100 ms .. 1 s.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(headersTimeout / 10))),
  };
}

/** An HTTP server for `app` with the timeouts set. */
export function createHttpServer(app: RequestListener, s: ServerTimeoutSettings): Server {
  const t = serverTimeouts(s);
  const server = createServer(
    {
      requestTimeout: t.requestTimeout,
      headersTimeout: t.headersTimeout,
      connectionsCheckingInterval: t.connectionsCheckingInterval,
    },
    app,
  );
  server.keepAliveTimeout = t.keepAliveTimeout;
  return server;
}
