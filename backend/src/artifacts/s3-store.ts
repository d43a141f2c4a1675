import { createReadStream } from 'node:fs';
import { stat, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { S3BundleStore } from './s3-bundle-store.js';
import { checkKey, type ArtifactStat, type ArtifactStore } from './artifact-store.js';

/** Parses `s3://bucket[/prefix]`; null when it is not one. */
export function parseS3Url(url: string): { bucket: string; prefix: string } | null {
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!m) return null;
  const prefix = (m[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: m[1]!, prefix: prefix ? `${prefix}/` : '' };
}

/**
 * The artifact store in an S3 bucket (or any S3-API server, with an endpoint). Payloads go up
 * as multipart uploads; reads pass the byte range on to S3, whose ETags are strong.
 */
export class S3ArtifactStore implements ArtifactStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly presigner: S3Client = client,
  ) {}

  static fromConfig(url: string, region: string, endpoint: string): S3ArtifactStore {
    const parsed = parseS3Url(url);
    if (!parsed) throw new Error(`artifactStore: expected s3://bucket[/prefix], got ${JSON.stringify(url)}`);
    const where = { region, ...(endpoint ? { endpoint, forcePathStyle: true } : {}) };
    // Presigned PUTs need a client without default checksums: the SDK would sign the CRC32 of
    // an empty body into the URL, and S3 would refuse the real body.
    const presigner = new S3Client({ ...where, requestChecksumCalculation: 'WHEN_REQUIRED' });
    return new S3ArtifactStore(new S3Client(where), parsed.bucket, parsed.prefix, presigner);
  }

  get description(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  /** Diagnostic log bundles in the same bucket (under `log-bundles/`). */
  bundleStore(): S3BundleStore {
    return new S3BundleStore(this.client, this.bucket, this.prefix, this.presigner);
  }

  private key(key: string): string {
    if (!checkKey(key)) throw new Error(`bad artifact key ${JSON.stringify(key)}`);
    return this.prefix + key;
  }

  async putFile(key: string, localPath: string, contentType: string): Promise<void> {
    const size = (await stat(localPath)).size;
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(key), Body: createReadStream(localPath), ContentType: contentType, ContentLength: size },
      partSize: 64 * 1024 * 1024,
      queueSize: 2,
    });
    await upload.done();
    await unlink(localPath);
  }

  async stat(key: string): Promise<ArtifactStat | null> {
    if (!checkKey(key)) return null;
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(key) }));
      return { size: out.ContentLength ?? 0, etag: out.ETag ?? '"unknown"', lastModified: out.LastModified ?? new Date(0) };
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return null;
      throw err;
    }
  }

  async read(key: string, start: number, end: number): Promise<Readable> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key), Range: `bytes=${start}-${end}` }));
    return out.Body as Readable;
  }

  async presignedGetUrl(key: string, expiresInS: number): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: this.key(key) }), { expiresIn: expiresInS });
  }

  async removePrefix(prefix: string): Promise<void> {
    let token: string | undefined;
    do {
      const out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(prefix) + '/', ContinuationToken: token }));
      for (const o of out.Contents ?? []) if (o.Key) await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: o.Key }));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }
}
