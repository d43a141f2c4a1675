// Rollout passes read only the targets that are due (the sparse byStageDue index), so a pass's
// cost follows the due work, not the stage's size: a stage of 120 appliances with every install
// out costs a handful of requests per pass; a finished task makes its target due (the task
// service touches it); a touch that was lost, and counters a crash left off, are repaired by
// the stage's periodic whole read. Real HTTP API and dynalite; the installs nobody answers but
// the test, as each appliance would (its token, the result route).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RolloutView } from '@twinroot/protocol';
import { STAGE_RECONCILE_MS } from '../../../backend/src/rollouts/target-due.js';
import { emptyCounts } from '../../../backend/src/rollouts/target-state.js';
import { startTestBackend } from '../../helpers/backend.js';
import { ManualClock } from '../../helpers/clock.js';
import { call } from '../../helpers/operator-api.js';
import { makeKeys, makePackage, packageForm } from '../../helpers/packages.js';

const N = 120;

test('a rollout pass reads only due targets: cost follows due work; results touch their targets; a lost touch and off counters are repaired by the whole read', { timeout: 180_000 }, async (t) => {
  const keys = makeKeys();
  const clock = new ManualClock();
  const b = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey, TWINROOT_ROLLOUT_PASS_SECONDS: '0', TWINROOT_SWEEP_SCHEDULE: 'off', TWINROOT_REGISTER_RATE_PER_MINUTE: '100000' }, undefined, { clock });
  const op = <T = Record<string, unknown>>(m: string, p: string, json?: unknown) => call<T>(b.urls.http, m, p, { token: b.operatorKey, json });
  try {
    // N customers of one appliance each, one region: one stage of N (every customer's first half).
    const tokens = new Map<string, string>();
    for (let i = 0; i < N; i++) {
      const c = await op('POST', '/v1/customers', { name: `c${i}`, region: 'eu-west-1' });
      const reg = (await op('POST', `/v1/customers/${c.body.customerId}/register-tokens`, {})).body.registerToken as string;
      const r = await call(b.urls.http, 'POST', '/v1/register', { json: { registerToken: reg, hostname: `va-${i}`, cpu: 'x86_64', memoryMb: 1024, ip: '10.0.0.5', version: '1.0.0', slot: 'A' } });
      tokens.set(r.body.applianceId as string, r.body.applianceToken as string);
    }
    const pkg = await makePackage({ keys, version: '2.0.0', randomKiB: 16 });
    const up = await fetch(`${b.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${b.operatorKey}` }, body: await packageForm(pkg) });
    const releaseId = ((await up.json()) as { releaseId: string }).releaseId;
    const created = (await op<RolloutView>('POST', '/v1/rollouts', { releaseId, preDownloadWindowHours: 0, successThreshold: 1, errorThreshold: 0.5 })).body;
    const rolloutId = created.rolloutId;
    const stageKey = `${rolloutId}#0000`;
    const view = async () => (await op<RolloutView>('GET', `/v1/rollouts/${rolloutId}`)).body;
    const requestsOf = async (what: () => Promise<unknown>) => {
      const before = b.metrics.dynamoRequests;
      await what();
      return b.metrics.dynamoRequests - before;
    };

    // The first passes read the stage whole (its phase changed: it started) and send every install.
    for (let i = 0; i < 3 && (await view()).stages[0]!.counts.inProgress < N; i++) await b.services.rollouts.pass(rolloutId);
    let r = await view();
    assert.equal(r.stages[0]!.status, 'running');
    assert.equal(r.stages[0]!.counts.inProgress, N, JSON.stringify(r.stages[0]!.counts));
    let whole = 0;
    const idle = await requestsOf(() => b.services.rollouts.pass(rolloutId));
    assert.ok(idle <= 12, `a pass with nothing due: ${idle} requests`);

    // Five appliances answer: their tasks end, which touches their targets; the next pass reads those five.
    const targets = await b.data.targetsOfStage(stageKey);
    const answered = targets.slice(0, 5);
    for (const t of answered) {
      const token = tokens.get(t.applianceId)!;
      await call(b.urls.http, 'POST', `/v1/tasks/${t.installTaskId}/result`, { token, json: { status: 'accepted', seq: 1 } });
      await call(b.urls.http, 'POST', `/v1/tasks/${t.installTaskId}/result`, { token, json: { status: 'failed', seq: 2, error: { code: 'download_failed', message: 'no route to host' } } });
    }
    const fivePass = await requestsOf(() => b.services.rollouts.pass(rolloutId));
    r = await view();
    assert.equal(r.stages[0]!.counts.failed, 5, JSON.stringify(r.stages[0]!.counts));
    assert.equal(r.stages[0]!.counts.inProgress, N - 5);
    assert.ok(fivePass <= 12 + 5 * 6, `a pass with 5 due targets: ${fivePass} requests`);

    // A lost touch: a task ends without the task service (as if the instance died before touching).
    const lost = targets[5]!;
    await b.data.tasks.mutate(lost.installTaskId!, (cur) => ({ ...cur, status: 'failed', error: { code: 'download_failed', message: 'lost touch' } }));
    await b.services.rollouts.pass(rolloutId);
    assert.equal((await view()).stages[0]!.counts.failed, 5, 'not seen yet: nothing made it due');
    // Counters a crash left off (a target write whose count never happened).
    await b.data.adjustStageCounts(stageKey, { ...emptyCounts(), inProgress: 1, appliances: 1 });
    clock.advance(STAGE_RECONCILE_MS / 60_000);
    whole = await requestsOf(() => b.services.rollouts.pass(rolloutId));
    assert.ok(whole >= N, `the reconciling whole read reads every target: ${whole} requests (against ${idle} idle)`);
    r = await view();
    assert.equal(r.stages[0]!.counts.failed, 6, 'the whole read found the lost touch');
    assert.equal(r.stages[0]!.counts.appliances, N + 1, 'one whole read that disagrees does not correct the counters yet (a concurrent pass could be why)');
    assert.deepEqual((await b.data.rollouts.get(rolloutId))!.stages[0]!.countsDrift, { ...emptyCounts(), inProgress: -1, appliances: -1 }, 'the difference is recorded');
    clock.advance(STAGE_RECONCILE_MS / 60_000);
    await b.services.rollouts.pass(rolloutId);
    r = await view();
    assert.deepEqual(r.stages[0]!.counts, { ...emptyCounts(), appliances: N, inProgress: N - 6, failed: 6 }, 'the second whole read agreed with the first: corrected');
    assert.equal((await b.data.rollouts.get(rolloutId))!.stages[0]!.countsDrift, undefined);
    t.diagnostic(`requests per pass over a stage of ${N}: nothing due ${idle}, 5 due ${fivePass}, whole read ${whole}`);
  } finally {
    await b.cleanup();
  }
});
