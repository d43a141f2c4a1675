// s3rver, a local S3-API server, for the tests of the S3 artifact store and log bundles.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** s3rver, a local S3-API server, with the bucket `twinroot-artifacts`, and credentials it accepts. */
export async function startS3rver(): Promise<{ s3: { close(): Promise<void> }; port: number }> {
  const { default: S3rver } = (await import('s3rver')) as unknown as { default: new (o: object) => { run(): Promise<{ port: number }>; close(): Promise<void> } };
  const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: mkdtempSync(join(tmpdir(), 's3rver-')), configureBuckets: [{ name: 'twinroot-artifacts' }] });
  const { port } = await s3.run();
  process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
  process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
  return { s3, port };
}
