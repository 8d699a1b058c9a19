/**
 * S3Source: models from object storage (`MODEL_SOURCE=s3://bucket/prefix`).
 *
 * The manifest is read from `<prefix>/manifest.json` at every start (it is the source of truth); each model
 * file and asset is kept in a local cache directory. A cached file whose sha256 matches the manifest is used
 * as is, without a request for it; otherwise it is downloaded to a temporary file next to its final place,
 * hashed while it streams, and renamed into place only if its sha256 matches. A download with the wrong
 * sha256 is deleted and raises {@link ModelIntegrityError}, so the service never starts on it.
 *
 * Credentials and region come from the AWS SDK v3's standard chain (env, shared config/credentials files,
 * SSO, web identity, ECS/EC2 metadata). A custom endpoint (MinIO, Ceph, R2, a local test server) is either
 * `endpoint` (MODEL_SOURCE_ENDPOINT, path-style addressing) or the SDK's own `AWS_ENDPOINT_URL_S3` /
 * `AWS_ENDPOINT_URL`.
 */
import { randomBytes, createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join, posix, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import type { Logger } from '../telemetry/logger.ts';
import { ModelIntegrityError, sha256File, type ModelSource } from './registry.ts';

export interface S3Location {
  bucket: string;
  /** Key prefix without leading or trailing slashes ('' for the bucket root). */
  prefix: string;
}

/** Parses `s3://bucket[/prefix]`; throws on anything else. */
export function parseS3Url(url: string): S3Location {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url);
  if (!m) throw new Error(`not an s3://bucket/prefix URL: ${url}`);
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) throw new Error(`invalid S3 bucket name "${bucket}" in ${url}`);
  return { bucket, prefix: (m[2] ?? '').replace(/^\/+|\/+$/g, '') };
}

export interface S3SourceOptions {
  /** Local directory for the downloaded files (created if missing). */
  cacheDir: string;
  /** Custom S3 endpoint URL; selects path-style addressing. Unset: AWS, or the SDK's AWS_ENDPOINT_URL(_S3). */
  endpoint?: string;
  log?: Logger;
  /** Extra S3Client settings (region…); credentials stay with the SDK's default chain unless given here. */
  clientConfig?: S3ClientConfig;
}

/** What happened to each file in this process, for logs and tests. */
export interface S3SourceStats {
  downloaded: string[];
  reused: string[];
  /** Cached files that failed their sha256 check and were fetched again. */
  replaced: string[];
}

export class S3Source implements ModelSource {
  readonly location: S3Location;
  readonly cacheDir: string;
  readonly stats: S3SourceStats = { downloaded: [], reused: [], replaced: [] };
  private readonly client: S3Client;
  private readonly log: Logger | undefined;

  constructor(
    readonly url: string,
    options: S3SourceOptions,
  ) {
    this.location = parseS3Url(url);
    this.cacheDir = resolve(options.cacheDir, this.location.bucket, ...(this.location.prefix ? this.location.prefix.split('/') : []));
    this.log = options.log;
    this.client = new S3Client({
      ...(options.endpoint ? { endpoint: options.endpoint, forcePathStyle: true } : {}),
      ...options.clientConfig,
    });
  }

  get description() {
    return this.url.replace(/\/+$/, '');
  }

  /** The command that publishes the repository's models/ (manifest and checksummed files) here. */
  get publishHint() {
    return `aws s3 sync models/ ${this.description}/ --delete`;
  }

  where(file: string) {
    return this.uri(file);
  }

  /** Object key of a manifest-relative file. */
  key(file: string): string {
    return this.location.prefix ? `${this.location.prefix}/${file}` : file;
  }

  async manifest(): Promise<string> {
    // An empty prefix (a fresh stack nobody published to) ends here: say how to publish.
    const body = await this.get('manifest.json').catch((err: Error) => {
      throw new ModelIntegrityError(`${err.message}; publish the models with: ${this.publishHint}`);
    });
    return Buffer.from(await body.transformToByteArray()).toString('utf8');
  }

  async localFile(file: string, sha256: string): Promise<string> {
    const path = this.cachePath(file);
    const cached = await sha256File(path).catch(() => undefined);
    if (cached === sha256) {
      this.stats.reused.push(file);
      this.log?.info({ file, path, sha256 }, 'model file: using the cached copy (sha256 matches the manifest)');
      return path;
    }
    if (cached !== undefined) {
      this.stats.replaced.push(file);
      this.log?.warn({ file, path, cached, expected: sha256 }, 'model file: cached copy has the wrong sha256, downloading it again');
    }
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.part`;
    const started = Date.now();
    try {
      const body = await this.get(file);
      const hash = createHash('sha256');
      let bytes = 0;
      const stream = body instanceof Readable ? body : Readable.fromWeb(body.transformToWebStream() as never);
      stream.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        bytes += chunk.length;
      });
      await pipeline(stream, createWriteStream(tmp, { flags: 'wx' }));
      const actual = hash.digest('hex');
      if (actual !== sha256) {
        throw new ModelIntegrityError(
          `model file ${this.uri(file)} has sha256 ${actual} (${bytes} bytes), manifest says ${sha256}: refusing it`,
        );
      }
      await rename(tmp, path);
      this.stats.downloaded.push(file);
      this.log?.info({ file, path, bytes, ms: Date.now() - started }, 'model file: downloaded and verified');
      return path;
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  /** The cache path of a manifest-relative file; refuses paths that would leave the cache directory. */
  private cachePath(file: string): string {
    const normal = posix.normalize(file);
    if (posix.isAbsolute(normal) || normal === '..' || normal.startsWith('../') || normal.includes('\\')) {
      throw new ModelIntegrityError(`manifest file path "${file}" leaves the model directory`);
    }
    const path = join(this.cacheDir, ...normal.split('/'));
    if (!path.startsWith(this.cacheDir + sep)) throw new ModelIntegrityError(`manifest file path "${file}" leaves the model directory`);
    return path;
  }

  private uri(file: string) {
    return `s3://${this.location.bucket}/${this.key(file)}`;
  }

  private async get(file: string) {
    let out;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(file) }));
    } catch (err) {
      const e = err as Error & { $metadata?: { httpStatusCode?: number } };
      const status = e.$metadata?.httpStatusCode;
      throw new ModelIntegrityError(`cannot read ${this.uri(file)}: ${e.name}${status ? ` (HTTP ${status})` : ''}: ${e.message}`);
    }
    if (!out.Body) throw new ModelIntegrityError(`cannot read ${this.uri(file)}: empty response body`);
    return out.Body;
  }

  /** Closes the client's sockets. */
  destroy() {
    this.client.destroy();
  }
}
