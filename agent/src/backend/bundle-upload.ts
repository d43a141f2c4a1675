import { createReadStream, statSync } from 'node:fs';
import got, { HTTPError } from 'got';
import { compile, LogUploadTarget } from '@twinroot/protocol';

const validateTarget = compile(LogUploadTarget);

function describe(err: unknown): string {
  if (err instanceof HTTPError) return `HTTP ${err.response.statusCode} from ${new URL(err.options.url!).origin}: ${String(err.response.body ?? '').slice(0, 300)}`;
  return (err as Error).message;
}

/**
 * Uploads a diagnostic bundle for the signed upload URL of a collectLogs task. First it asks that
 * URL where to put a bundle of this size (POST {bytes}): a presigned S3 PUT in S3 mode, so the
 * bytes go straight to the bucket, or the URL itself. A backend from before this step has none
 * (404/405): then the bundle is PUT to the URL as before. No bearer token is sent anywhere here.
 */
export async function uploadBundle(uploadUrl: string, file: string): Promise<{ via: 'presigned' | 'backend' }> {
  const bytes = statSync(file).size;
  let target: LogUploadTarget;
  try {
    const answer = await got.post(uploadUrl, { json: { bytes }, timeout: { request: 30_000 }, retry: { limit: 2, methods: ['POST'] } }).json();
    const v = validateTarget(answer);
    if (!v.ok) throw new Error(`the upload target is invalid: ${v.error}`);
    target = v.value;
  } catch (err) {
    const status = err instanceof HTTPError ? err.response.statusCode : 0;
    if (status !== 404 && status !== 405) throw new Error(`upload refused: ${describe(err)}`);
    target = { method: 'PUT', url: uploadUrl, headers: { 'content-type': 'application/gzip' }, expiresAt: new Date().toISOString() };
  }
  try {
    await got.put(target.url, { body: createReadStream(file), headers: { ...target.headers, 'content-length': String(bytes) }, timeout: { request: 10 * 60_000 }, retry: { limit: 0 } });
  } catch (err) {
    throw new Error(`upload failed: ${describe(err)}`);
  }
  return { via: target.url === uploadUrl ? 'backend' : 'presigned' };
}
