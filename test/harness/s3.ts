/**
 * A local S3-compatible server for tests: s3rver (npm dev dependency) on 127.0.0.1, random port, temp dir,
 * with a log of every request it receives (method, path) so tests can tell what a client fetched.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';

/** The part of s3rver's (untyped, CommonJS) API used here. */
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverCtor = new (options: {
  address: string;
  port: number;
  directory: string;
  silent: boolean;
}) => S3rverInstance;
const S3rver = createRequire(import.meta.url)('s3rver') as S3rverCtor;

/** s3rver's fixed credentials (any other key pair is refused with a signature error). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface S3RequestLogEntry {
  method: string;
  /** Path without the query string: `/bucket/key` (path-style). */
  path: string;
}

export interface TestS3 {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  dir: string;
  requests: S3RequestLogEntry[];
  /** A client for the server (path-style, s3rver credentials). */
  client: S3Client;
  createBucket(name: string): Promise<void>;
  put(bucket: string, key: string, body: Uint8Array | string): Promise<void>;
  /** Stops listening (the stored objects stay in `dir` until `remove`). */
  stop(): Promise<void>;
  /** Stops the server if running and deletes its directory. */
  remove(): Promise<void>;
}

export async function startTestS3(): Promise<TestS3> {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-s3-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, directory: dir, silent: true });
  const address = await server.run();
  const http = (server as unknown as { httpServer: Server }).httpServer;
  const requests: S3RequestLogEntry[] = [];
  http.prependListener('request', (req) => {
    requests.push({ method: req.method ?? '?', path: decodeURIComponent((req.url ?? '').split('?')[0]!) });
  });
  const endpoint = `http://127.0.0.1:${address.port}`;
  const client = new S3Client({
    endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: S3RVER_CREDENTIALS,
    // s3rver predates the SDK's default flexible checksums (aws-chunked uploads with trailing checksums)
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  let running = true;
  const stop = async () => {
    if (!running) return;
    running = false;
    http.closeAllConnections();
    await server.close();
  };
  return {
    endpoint,
    dir,
    requests,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async put(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    stop,
    async remove() {
      client.destroy();
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
