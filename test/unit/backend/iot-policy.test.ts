// The one IoT policy every appliance certificate is attached to (backend/aws/iot-policy.json),
// evaluated for appliance A against A's and B's client ids and topics. AWS IoT Core's policy
// engine cannot run here: a model of it (test/helpers/iot-policy-evaluator.ts) stands in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { taskTopic } from '@twinroot/protocol';
import { iotPolicyDocument } from '@twinroot/backend';
import { evaluate, type PolicyDocument } from '../../helpers/iot-policy-evaluator.js';

const policy = JSON.parse(iotPolicyDocument()) as PolicyDocument;
const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const arn = (kind: string, name: string) => `arn:aws:iot:eu-west-1:123456789012:${kind}/${name}`;
const asA = { thingName: A, isAttached: true };

test('[IoT policy model] A may connect only with its own thing name as client id, and only while its certificate is attached to the thing', () => {
  assert.equal(evaluate(policy, 'iot:Connect', arn('client', A), asA), 'allow');
  assert.equal(evaluate(policy, 'iot:Connect', arn('client', B), asA), 'deny');
  assert.equal(evaluate(policy, 'iot:Connect', arn('client', A), { thingName: A, isAttached: false }), 'deny');
  assert.equal(evaluate(policy, 'iot:Connect', arn('client', A), { isAttached: false }), 'deny');
});

test("[IoT policy model] A may subscribe to and receive its own task topic only — not B's, not a wildcard filter", () => {
  assert.equal(evaluate(policy, 'iot:Subscribe', arn('topicfilter', taskTopic(A)), asA), 'allow');
  assert.equal(evaluate(policy, 'iot:Receive', arn('topic', taskTopic(A)), asA), 'allow');
  assert.equal(evaluate(policy, 'iot:Subscribe', arn('topicfilter', taskTopic(B)), asA), 'deny');
  assert.equal(evaluate(policy, 'iot:Receive', arn('topic', taskTopic(B)), asA), 'deny');
  for (const filter of ['twinroot/appliances/+/tasks', 'twinroot/appliances/#', '#', `twinroot/appliances/${A}/#`]) {
    assert.equal(evaluate(policy, 'iot:Subscribe', arn('topicfilter', filter), asA), 'deny', filter);
  }
});

test('[IoT policy model] A may publish nothing, and retain, shadow and job actions are not granted', () => {
  for (const topic of [taskTopic(A), taskTopic(B), `$aws/things/${A}/shadow/update`, 'anything']) {
    assert.equal(evaluate(policy, 'iot:Publish', arn('topic', topic), asA), 'deny', topic);
  }
  assert.equal(evaluate(policy, 'iot:RetainPublish', arn('topic', taskTopic(A)), asA), 'deny');
  assert.equal(evaluate(policy, 'iot:UpdateThingShadow', arn('thing', A), asA), 'deny');
});

test('the policy grants exactly Connect, Subscribe and Receive, each confined to the connection\'s own thing', () => {
  const actions = policy.Statement.flatMap((s) => (Array.isArray(s.Action) ? s.Action : [s.Action])).sort();
  assert.deepEqual(actions, ['iot:Connect', 'iot:Receive', 'iot:Subscribe']);
  for (const s of policy.Statement) {
    assert.equal(s.Effect, 'Allow');
    for (const r of Array.isArray(s.Resource) ? s.Resource : [s.Resource]) assert.match(r, /\$\{iot:Connection\.Thing\.ThingName\}/, `${s.Sid}: ${r}`);
  }
  const connect = policy.Statement.find((s) => s.Action === 'iot:Connect');
  assert.deepEqual(connect?.Condition, { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } });
  // The topic in the policy is the protocol's task topic.
  assert.equal(taskTopic(A), `twinroot/appliances/${A}/tasks`);
});
