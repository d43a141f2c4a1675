// The console in a real browser (Debian's Chromium, driven by playwright-core) against the real
// `npm start` demo: its own process with the embedded backend and 30 in-process agents with
// `dir` slots. Everything between the browser and the simulated disks is the real code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

const CHROMIUM = process.env.TWINROOT_CHROMIUM ?? '/usr/bin/chromium';
/** Set to a directory (e.g. docs) to keep the screenshots the README shows. */
const SHOTS = process.env.TWINROOT_SCREENSHOTS ?? '';

let demo: ChildProcess;
let url = '';
let key = '';
let browser: Browser;
let page: Page;
const dataDir = mkdtempSync(join(tmpdir(), 'twinroot-e2e-'));
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

before(async () => {
  demo = spawn(process.execPath, ['--conditions=twinroot-source', '--import', 'tsx', 'demo/start.ts', '--port', '0', '--data', join(dataDir, 'demo')], {
    cwd: new URL('../..', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo did not come up in 120 s:\n${out}`)), 120_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      const u = /console\s+(http:\/\/\S+?)\/?\n/.exec(out);
      const k = /operator key\s+(trk_\S+)/.exec(out);
      if (u && k) {
        clearTimeout(timer);
        url = u[1]!;
        key = k[1]!;
        resolve();
      }
    };
    demo.stdout!.on('data', onData);
    demo.stderr!.on('data', onData);
    demo.once('exit', (code) => reject(new Error(`demo exited ${code}:\n${out}`)));
  });
  console.log(`demo up at ${url} after ${elapsed()}`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
});

after(async () => {
  await browser?.close();
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (demo.exitCode === null) demo.kill('SIGKILL');
  }
  rmSync(dataDir, { recursive: true, force: true });
});

async function shot(name: string): Promise<void> {
  const dir = SHOTS || join(dataDir, 'shots');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: false });
  assert.ok(statSync(file).size > 10_000, `${name}: screenshot is not empty`);
}

async function operatorApi(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(url + path, { headers: { authorization: `Bearer ${key}` } });
  return (await res.json()) as Record<string, unknown>;
}

test('sign in: a wrong key is refused, the right one shows the fleet of 30', async () => {
  await page.goto(url + '/');
  await page.getByTestId('operator-key').fill('trk_not-the-key');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('That key was not accepted.').waitFor();
  await page.getByTestId('operator-key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('count-total').filter({ hasText: '30' }).waitFor();
  assert.equal(await page.getByTestId('count-connected').textContent(), 'connected 30');
  assert.equal(await page.locator('[data-appliance]').count(), 30);
  // Filters: one region's appliances only.
  await page.getByTestId('filter-region').selectOption('ap-southeast-2');
  await page.waitForFunction(() => document.querySelectorAll('[data-appliance]').length === 9);
  await page.getByTestId('filter-region').selectOption('');
  await page.waitForFunction(() => document.querySelectorAll('[data-appliance]').length === 30);
  console.log(`signed in, fleet shown: ${elapsed()}`);
});

test('releases: both demo releases listed with their verified metadata', async () => {
  await page.getByRole('link', { name: 'Releases', exact: true }).click();
  await page.locator('[data-release="v2.0.0"]').waitFor();
  await page.locator('[data-release="v2.0.0-rc.1"]').waitFor();
  await page.locator('[data-release="v2.0.0"]').click();
  await page.getByText('verified with the release key at registration').waitFor();
});

/** Through the form: one-minute stages, no pre-download window; lands on the rollout's page. */
async function startRollout(releaseId: string): Promise<void> {
  await page.getByRole('link', { name: 'Rollouts', exact: true }).click();
  await page.getByTestId('rollout-release').selectOption(releaseId);
  await page.getByTestId('stage-timeout').fill('1');
  await page.getByTestId('predownload-hours').fill('0');
  await page.getByTestId('create-rollout').click();
  await page.getByTestId('stage-status-0').waitFor();
  assert.match(page.url(), /#\/rollouts\/[0-9a-f-]{36}$/);
}

test('a rollout of the broken release candidate pauses itself and shows why; abort', async () => {
  await startRollout('v2.0.0-rc.1');
  // Its new root fails the health check: the appliances fall back by themselves, the gate pauses the rollout.
  await page.getByTestId('paused-reason').waitFor({ timeout: 120_000 });
  const reason = (await page.getByTestId('paused-reason').textContent()) ?? '';
  // The gate pauses as soon as the ratio is over the threshold: after the first of the two canaries
  // fell back, or both when they did so within one pass (a busy machine makes the first likelier).
  assert.match(reason, /^Paused: error threshold: [12] of 2 appliances failed or rolled back .* in stage 0 \(ap-southeast-2, canary-first-half\)$/);
  console.log(`broken release paused itself: ${elapsed()}`);
  await page.getByTestId('abort').click();
  await page.getByTestId('rollout-status').filter({ hasText: 'aborted' }).waitFor();
});

test('a rollout of 2.0.0: the first stage completes, pause and resume', async () => {
  await startRollout('v2.0.0');
  await page.getByTestId('stage-status-0').filter({ hasText: 'passed' }).waitFor({ timeout: 120_000 });
  console.log(`first stage passed: ${elapsed()}`);
  assert.equal(await page.getByTestId('stage-status-1').textContent(), 'waiting');
  await page.getByTestId('pause').click();
  await page.getByTestId('rollout-status').filter({ hasText: 'paused' }).waitFor();
  assert.equal(await page.getByTestId('paused-reason').textContent(), 'Paused: operator');
  await page.getByTestId('resume').click();
  await page.getByTestId('rollout-status').filter({ hasText: 'running' }).waitFor();
  assert.equal(await page.getByTestId('paused-reason').count(), 0);
  // The next stage starts at its planned time (one stage timeout after the first).
  await page.getByTestId('stage-status-1').filter({ hasText: /running|passed/ }).waitFor({ timeout: 120_000 });
  console.log(`second stage started: ${elapsed()}`);
  await shot('console-rollout');
});

test("an upgraded appliance's timeline: the rollout's upgrade verified, the earlier fallback; collect its logs", async () => {
  const list = (await operatorApi('/v1/appliances?version=2.0.0')) as { items: { applianceId: string; hostname: string }[] };
  // A canary of the first stage: on 2.0.0 now, and it went through the broken rc.1 before (by the
  // time we look, the second stage may have upgraded other litware appliances that never saw rc.1).
  let a: { applianceId: string } | undefined;
  for (const x of list.items.filter((y) => y.hostname.startsWith('litware-va-'))) {
    const t = (await operatorApi(`/v1/appliances/${x.applianceId}/tasks`)) as { items: { taskType: string; body: { version?: string } }[] };
    if (t.items.some((y) => y.taskType === 'upgrade' && y.body.version === '2.0.0-rc.1')) a = x;
  }
  assert.ok(a, 'a canary of the first stage went from the broken rc.1 to 2.0.0');
  await page.goto(`${url}/#/appliances/${a.applianceId}`);
  await page.getByTestId('appliance-version').filter({ hasText: '2.0.0' }).waitFor();
  // The demo's appliances log in with client certificates: the page shows which one and until when.
  assert.match(await page.getByTestId('appliance-certificate').innerText(), /^[0-9a-f]{8} · expires /);
  const timeline = page.getByTestId('timeline');
  const upgrade = timeline.locator('li.task', { hasText: 'upgrade to 2.0.0 (install-reboot)' });
  await upgrade.locator('.badge', { hasText: 'succeeded' }).waitFor();
  for (const ev of ['sent', 'accepted', 'running', 'succeeded']) assert.ok((await upgrade.locator('.event', { hasText: ev }).count()) > 0, `the upgrade's timeline has ${ev}`);
  const broken = timeline.locator('li.task', { hasText: 'upgrade to 2.0.0-rc.1' });
  await broken.locator('.error', { hasText: 'health_check_failed' }).waitFor();
  const tasks = (await operatorApi(`/v1/appliances/${a.applianceId}/tasks`)) as { items: { taskType: string; body: { version?: string }; events: { at: string; status: string; note?: string }[] }[] };
  for (const t of tasks.items.filter((x) => x.taskType === 'upgrade').reverse()) console.log(`upgrade to ${t.body.version}: ${t.events.map((e) => `${e.at.slice(11, 19)} ${e.status}${e.note ? ` (${e.note})` : ''}`).join(' → ')}`);
  await page.getByTestId('collect-logs').click();
  await page.getByRole('button', { name: 'Download' }).first().waitFor({ timeout: 60_000 });
  await timeline.locator('li.task', { hasText: 'collectLogs' }).locator('.badge', { hasText: 'succeeded' }).waitFor();
  console.log(`appliance timeline checked, logs collected: ${elapsed()}`);
});

test('customers: create one with a maintenance window, issue register tokens (one limited to 2 appliances), revoke one', async () => {
  await page.getByRole('link', { name: 'Customers', exact: true }).click();
  await page.getByTestId('customer-name').fill('E2E Test Corp');
  await page.getByTestId('customer-region').fill('eu-central-1');
  await page.getByRole('checkbox', { name: 'maintenance window' }).check();
  await page.getByRole('button', { name: 'Create' }).click();
  await page.getByRole('row', { name: /E2E Test Corp/ }).getByText(/^tue 02:00 for 120 min \(/).waitFor();
  await page.getByTestId('token-E2E Test Corp').click();
  const token = await page.getByTestId('register-token').inputValue();
  assert.match(token, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
  await page.getByTestId('canary-E2E Test Corp').check();
  type Customers = { items: { name: string; canary: boolean; maintenanceWindow?: unknown }[] };
  await waitFor(async () => ((await operatorApi('/v1/customers')) as Customers).items.find((c) => c.name === 'E2E Test Corp')?.canary === true);
  // Another token for at most 2 appliances, then the first one revoked: it registers nothing more.
  await page.getByTestId('token-max-uses').fill('2');
  await page.getByRole('button', { name: 'Issue another' }).click();
  await page.getByTestId('token-table').getByText('0 of 2').waitFor();
  const firstId = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
  await page.getByTestId(`revoke-${firstId}`).click();
  await page.getByTestId('token-table').locator(`tr[data-token="${firstId}"]`).getByText(/^revoked/).waitFor();
  const refused = await fetch(`${url}/v1/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ registerToken: token, hostname: 'e2e-va', cpu: 'x86_64', memoryMb: 1024, ip: '10.0.0.5', version: '1.0.0', slot: 'A' }),
  });
  assert.equal(refused.status, 401);
  assert.equal(((await refused.json()) as { code: string }).code, 'register_token_revoked');
  await page.getByRole('link', { name: 'Fleet', exact: true }).click();
  await page.getByTestId('count-total').filter({ hasText: '30' }).waitFor();
  await page.getByTestId('count-upgrading').waitFor();
  await shot('console-fleet');
});

async function waitFor(cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}
