import { join } from 'node:path';
import { PayloadDownload, PAYLOAD_FILE } from '../download.js';
import { VerifiedPrefixReader } from '../verified-reader.js';
import { needPayload, targetSlot, type Step, type StepResult } from './step.js';

/** idle → downloading: nothing to do but announce it (the record exists from the task's start). */
export const idle: Step = async (): Promise<StepResult> => ({ to: 'downloading' });

/**
 * downloading → verified. With an install to follow (and overlap on), extraction into the slot
 * starts once the first chunk is verified, fed only the verified prefix; it is left running in
 * `carry` for the installing step. A payload bad from its first byte never wipes the slot.
 */
export const downloading: Step = async (ctx): Promise<StepResult> => {
  const { manifest: m, source, dir } = needPayload(ctx);
  const { deps } = ctx;
  const overlap = ctx.rec.mode !== 'download' && deps.overlapInstall !== false;
  const stop = new AbortController();
  const onAbort = () => stop.abort(ctx.signal?.reason);
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  const onInflightAbort = () => stop.abort(ctx.carry.inflight.signal.reason);
  ctx.carry.inflight.signal.addEventListener('abort', onInflightAbort, { once: true });
  const dl = new PayloadDownload({
    manifest: m, source, dir, signal: stop.signal, ...deps.download,
    onProgress: (p) => ctx.progress({ phase: 'downloading', bytes: p.bytes, totalBytes: p.totalBytes, percent: p.percent, rateBytesPerSecond: p.rateBytesPerSecond, etaSeconds: p.etaSeconds }),
  });
  let installError: Error | null = null as Error | null;
  let reader: VerifiedPrefixReader | null = null as VerifiedPrefixReader | null;
  const startInstall = () => {
    if (ctx.carry.install) return;
    reader = new VerifiedPrefixReader(dl);
    const installing = deps.driver.install({ slot: targetSlot(ctx), payloadFile: '-', payloadStream: reader, compression: m.payload.compression, version: m.version, signal: stop.signal });
    ctx.carry.install = installing;
    installing.catch((err: Error) => {
      if (stop.signal.aborted) return; // stopped on purpose: not the cause
      installError = err;
      stop.abort(err);
    });
  };
  if (overlap && !dl.complete) {
    if (dl.verifiedBytes > 0) startInstall();
    else dl.events.once('verified', startInstall);
  }
  try {
    const stats = await dl.run();
    deps.log.info({ ...stats, bytes: m.payload.size, file: join(dir, PAYLOAD_FILE) }, 'upgrade: payload downloaded and verified');
  } catch (err) {
    // If the install failed first, the download was stopped because of it: report the install's error.
    const cause = installError;
    (reader as VerifiedPrefixReader | null)?.fail(err as Error);
    await ctx.carry.install?.catch(() => undefined);
    throw cause ?? err;
  } finally {
    dl.events.off('verified', startInstall);
    ctx.signal?.removeEventListener('abort', onAbort);
    ctx.carry.inflight.signal.removeEventListener('abort', onInflightAbort);
  }
  return { to: 'verified' };
};

