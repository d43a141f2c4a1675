import type { Readable, Transform } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { Upload } from '@aws-sdk/lib-storage';
import { LogBundleExists, type BundleStore, type LogBundle } from '../services/log-bundles.js';

const notFound = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404;
};

/**
 * Diagnostic bundles in the artifact bucket under `log-bundles/` (the stack expires them there),
 * so an upload taken by one instance is listed and downloaded by any other. Written once: an
 * upload is refused if the object exists, and sent with If-None-Match: * so that of two racing
 * uploads S3 keeps the first.
 */
export class S3BundleStore implements BundleStore {
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    /** Signs upload URLs: a client without default checksums (see S3ArtifactStore.fromConfig). */
    private readonly presigner: S3Client = client,
  ) {}

  get description(): string {
    return `s3://${this.bucket}/${this.prefix}log-bundles/`;
  }

  private key(applianceId: string, bundleId?: string): string {
    return `${this.prefix}log-bundles/${applianceId}/${bundleId ? `${bundleId}.tar.gz` : ''}`;
  }

  async put(applianceId: string, bundleId: string, body: Readable, limit: Transform): Promise<void> {
    if (await this.exists(applianceId, bundleId)) throw new LogBundleExists(`bundle ${bundleId} was already uploaded`);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.key(applianceId, bundleId), Body: body.pipe(limit), ContentType: 'application/gzip', IfNoneMatch: '*' },
      partSize: 8 * 1024 * 1024,
      queueSize: 1,
    });
    // A size overrun errors the limiting stream; the upload is aborted with it.
    const failed = new Promise<never>((_, reject) => limit.once('error', reject));
    try {
      await Promise.race([upload.done(), failed]);
    } catch (err) {
      await upload.abort().catch(() => undefined);
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412) throw new LogBundleExists(`bundle ${bundleId} was already uploaded`);
      throw err;
    }
  }

  /**
   * A presigned PUT of exactly `bytes`: content-length, content-type and If-None-Match are signed
   * headers, so S3 refuses another length (the size limit) and a second write (write-once).
   */
  async presignPut(applianceId: string, bundleId: string, bytes: number, expiresInS: number): Promise<{ url: string; headers: Record<string, string> }> {
    const headers = { 'content-type': 'application/gzip', 'if-none-match': '*' };
    const command = new PutObjectCommand({ Bucket: this.bucket, Key: this.key(applianceId, bundleId), ContentLength: bytes, ContentType: headers['content-type'], IfNoneMatch: '*' });
    const url = await getSignedUrl(this.presigner, command, {
      expiresIn: expiresInS,
      signableHeaders: new Set(['content-length', 'content-type', 'if-none-match']),
      unhoistableHeaders: new Set(['if-none-match']),
    });
    return { url, headers };
  }

  async exists(applianceId: string, bundleId: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.key(applianceId, bundleId) }));
      return true;
    } catch (err) {
      if (notFound(err)) return false;
      throw err;
    }
  }

  async list(applianceId: string): Promise<LogBundle[]> {
    const out: LogBundle[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.key(applianceId), ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const m = /([0-9a-f-]{36})\.tar\.gz$/.exec(o.Key ?? '');
        if (m) out.push({ bundleId: m[1]!, bytes: o.Size ?? 0, uploadedAt: (o.LastModified ?? new Date(0)).toISOString() });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async open(applianceId: string, bundleId: string): Promise<Readable | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key(applianceId, bundleId) }));
      return out.Body as Readable;
    } catch (err) {
      if (notFound(err)) return null;
      throw err;
    }
  }
}
