// Security review #5 (second half): a downgrade below the committed version is an operator's
// recorded decision — never a default, never without a reason, always in the task's timeline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestBackend } from '../../helpers/backend.js';
import { call, registerFleet } from '../../helpers/operator-api.js';
import { makeKeys, makePackage, packageForm } from '../../helpers/packages.js';

let backend: Awaited<ReturnType<typeof startTestBackend>>;
before(async () => {
  const keys = makeKeys();
  backend = await startTestBackend({ TWINROOT_RELEASE_PUBLIC_KEY_FILE: keys.publicKey });
  const pkg = await makePackage({ keys, version: '1.5.0', randomKiB: 16 });
  const res = await fetch(`${backend.urls.http}/v1/releases`, { method: 'POST', headers: { authorization: `Bearer ${backend.operatorKey}` }, body: await packageForm(pkg) });
  assert.equal(res.status, 201, await res.text());
});
after(async () => backend.cleanup());

test('allowDowngrade needs a downgradeReason, which the task timeline records with who and from/to versions; without it nothing is sent', async () => {
  const fleet = await registerFleet(backend, { n: 1, version: '2.0.0' });
  const id = fleet.appliances[0]!.applianceId;
  const op = (m: string, p: string, json?: unknown) => call(backend.urls.http, m, p, { token: backend.operatorKey, json });
  const refused = await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'v1.5.0', allowDowngrade: true });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.code, 'downgrade_reason_required');
  assert.equal(((await op('GET', `/v1/appliances/${id}/tasks`)).body.items as unknown[]).length, 0, 'no task was created');

  const ok = await op('POST', `/v1/appliances/${id}/upgrade`, { releaseId: 'v1.5.0', allowDowngrade: true, downgradeReason: 'ticket OPS-42: 2.0.0 breaks the billing service' });
  assert.equal(ok.status, 202);
  const t = (await op('GET', `/v1/tasks/${ok.body.taskId as string}`)).body as { body: { allowDowngrade?: boolean }; createdBy: string; events: { status: string; note?: string }[] };
  assert.equal(t.body.allowDowngrade, true);
  assert.equal(t.createdBy, 'operator');
  assert.match(t.events[0]!.note ?? '', /^downgrade allowed by the operator \(from 2\.0\.0 to 1\.5\.0\): ticket OPS-42/);
});
