import type { ArtifactStat } from './artifact-store.js';
import { ifRangeAllows, parseRange } from './range.js';

/** What to answer a GET/HEAD of a stored artifact (pure): status, headers, and the bytes to send if any. */
export interface ArtifactAnswer {
  status: 200 | 206 | 304 | 416;
  headers: Record<string, string>;
  /** Inclusive byte range to send; null: no body (HEAD, 304, 416, empty file). */
  body: { start: number; end: number } | null;
}

/**
 * Single byte ranges, strong ETags, If-None-Match and If-Range, so an interrupted download
 * resumes where it stopped. Shared by the API's /artifacts route and the artifact worker.
 */
export function artifactAnswer(method: string, key: string, req: { range?: string; ifRange?: string; ifNoneMatch?: string }, st: ArtifactStat): ArtifactAnswer {
  const headers: Record<string, string> = {
    'accept-ranges': 'bytes',
    etag: st.etag,
    'last-modified': st.lastModified.toUTCString(),
    'cache-control': 'public, max-age=31536000, immutable',
    'content-type': key.endsWith('.json') ? 'application/json' : 'application/octet-stream',
  };
  if (req.ifNoneMatch === st.etag) return { status: 304, headers, body: null };
  const range = ifRangeAllows(req.ifRange, st.etag, st.lastModified) ? parseRange(req.range, st.size) : null;
  if (range === 'unsatisfiable') return { status: 416, headers: { ...headers, 'content-range': `bytes */${st.size}` }, body: null };
  const { start, end } = range ?? { start: 0, end: st.size - 1 };
  if (range) headers['content-range'] = `bytes ${start}-${end}/${st.size}`;
  headers['content-length'] = String(Math.max(0, end - start + 1));
  const body = method === 'HEAD' || st.size === 0 ? null : { start, end };
  return { status: range ? 206 : 200, headers, body };
}
