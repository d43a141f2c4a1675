// A front for s3rver that checks presigned (query-string) SigV4 signatures, which s3rver itself
// does not: the canonical request is rebuilt from what the client actually sent (its method, path,
// query and the signed headers' values), so a PUT of another length than the one signed is refused
// as S3 refuses it. Header-signed SDK calls are passed through unchecked. Written from the SigV4
// specification, not with the SDK's signer, so it does not check the SDK against itself.
import { createHash, createHmac } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const enc = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** Why a presigned request's signature does not hold, or null when it does. */
export function presignedSignatureProblem(req: Pick<IncomingMessage, 'method' | 'url' | 'headers'>, secret: string, nowMs: number): string | null {
  const url = new URL(req.url!, 'http://x');
  const q = url.searchParams;
  const [date, expires, credential, signedHeaders, signature] = ['X-Amz-Date', 'X-Amz-Expires', 'X-Amz-Credential', 'X-Amz-SignedHeaders', 'X-Amz-Signature'].map((k) => q.get(k));
  if (!date || !expires || !credential || !signedHeaders || !signature) return 'not presigned';
  const at = Date.UTC(+date.slice(0, 4), +date.slice(4, 6) - 1, +date.slice(6, 8), +date.slice(9, 11), +date.slice(11, 13), +date.slice(13, 15));
  if (nowMs > at + Number(expires) * 1000) return 'Request has expired';
  const canonicalQuery = [...q.entries()].filter(([k]) => k !== 'X-Amz-Signature').map(([k, v]) => [enc(k), enc(v)]).sort(([a], [b]) => (a! < b! ? -1 : a! > b! ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join('&');
  const names = signedHeaders.split(';');
  const headerLines = names.map((n) => `${n}:${String(req.headers[n] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const path = url.pathname.split('/').map((p) => enc(decodeURIComponent(p))).join('/');
  const canonical = [req.method, path, canonicalQuery, headerLines, signedHeaders, q.get('X-Amz-Content-Sha256') ?? 'UNSIGNED-PAYLOAD'].join('\n');
  const [, day, region, service] = credential.split('/');
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', date, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day!), region!), service!), 'aws4_request');
  return hmac(key, toSign).toString('hex') === signature ? null : 'SignatureDoesNotMatch';
}

/** Starts the front on a free port, forwarding to s3rver at `port`. */
export async function startSigV4Front(port: number, secret: string): Promise<{ port: number; refused: string[]; server: Server }> {
  const refused: string[] = [];
  const server = createServer((req, res) => {
    const problem = new URL(req.url!, 'http://x').searchParams.has('X-Amz-Signature') ? presignedSignatureProblem(req, secret, Date.now()) : null;
    if (problem) {
      refused.push(`${req.method} ${problem}`);
      req.resume();
      res.writeHead(403, { 'content-type': 'application/xml' }).end(`<Error><Code>${problem === 'Request has expired' ? 'AccessDenied' : 'SignatureDoesNotMatch'}</Code><Message>${problem}</Message></Error>`);
      return;
    }
    const up = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, refused, server };
}
