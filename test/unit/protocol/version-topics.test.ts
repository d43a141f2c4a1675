import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applianceIdFromTaskTopic, compareVersions, isDowngrade, parseVersion, taskTopic } from '@twinroot/protocol';

test('compareVersions follows SemVer precedence', () => {
  // Each is strictly lower than the next (the example chain of semver.org §11, plus core versions).
  const chain = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.1.0', '1.10.0', '2.0.0'];
  for (let i = 0; i < chain.length; i++) {
    for (let j = 0; j < chain.length; j++) {
      assert.equal(compareVersions(chain[i]!, chain[j]!), Math.sign(i - j), `${chain[i]} vs ${chain[j]}`);
    }
  }
  assert.equal(compareVersions('1.0.0+build.1', '1.0.0+build.2'), 0, 'build metadata is ignored');
});

test('isDowngrade', () => {
  assert.equal(isDowngrade('2.0.0', '1.9.9'), true);
  assert.equal(isDowngrade('2.0.0', '2.0.0'), false);
  assert.equal(isDowngrade('2.0.0', '2.0.1'), false);
  assert.equal(isDowngrade('2.0.0', '2.0.0-rc.1'), true);
});

test('parseVersion rejects what is not SemVer', () => {
  for (const bad of ['1', '1.0', 'v1.0.0', '01.0.0', '1.0.0-', '1.0.0-01', '1.0.0 ', '', 'x'.repeat(100), '99999999999999999999.0.0']) {
    assert.throws(() => parseVersion(bad), /version/, bad);
  }
  assert.deepEqual(parseVersion('1.2.3-rc.4+b5'), { major: 1, minor: 2, patch: 3, prerelease: ['rc', 4] });
});

test('task topics round-trip and refuse ids that would change the topic', () => {
  const id = '7c0f7d1c-8a66-4a53-9a39-0d4a0e4d5f11';
  assert.equal(taskTopic(id), `twinroot/appliances/${id}/tasks`);
  assert.equal(applianceIdFromTaskTopic(taskTopic(id)), id);
  for (const bad of ['', 'a/b', '+', '#', 'a b', 'x'.repeat(200)]) assert.throws(() => taskTopic(bad), /invalid appliance id/);
  assert.equal(applianceIdFromTaskTopic('twinroot/appliances/a/b/tasks'), null);
  assert.equal(applianceIdFromTaskTopic('twinroot/appliances/+/tasks'), null);
  assert.equal(applianceIdFromTaskTopic('other/topic'), null);
});
