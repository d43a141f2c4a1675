// The CDK app, synthesized offline exactly as `npm run synth -w deploy` does (no AWS account:
// CDK needs none to synthesize), and its template checked with aws-cdk-lib/assertions against
// the code it deploys: the tables' keys and indexes are the backend's own definitions, the task
// role grants exactly the AWS calls the backend's source makes, the bucket is private, the IoT
// policy is the repository's, the service runs at least two tasks behind HTTPS, and every
// alarmed log message is one the backend writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { TABLES, tableNames } from '@twinroot/backend/tables';
import { BACKEND_ACTIONS, MIGRATION_ONLY_COMMANDS } from '../../../deploy/src/backend-permissions.js';
import { ALARMED_LOG_MESSAGES } from '../../../deploy/src/alarms.js';
import { appliancePolicyDocument } from '../../../deploy/src/iot.js';
import { TwinrootStack } from '../../../deploy/src/twinroot-stack.js';
import { App } from 'aws-cdk-lib';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';

const repo = new URL('../../../', import.meta.url).pathname;
const context = { certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/abc', publicUrl: 'https://twinroot.example.com', secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:twinroot-keys-AbCdEf' };

/** `cdk synth` without the CLI's network: the app run with CDK_OUTDIR and CDK_CONTEXT_JSON, as the CLI runs it. */
function synthApp(): { template: Record<string, unknown>; out: string } {
  const out = mkdtempSync(join(tmpdir(), 'twinroot-cdk-'));
  const r = spawnSync(process.execPath, ['--conditions=twinroot-source', '--import', 'tsx', 'deploy/bin/twinroot-stack.ts'], {
    cwd: repo,
    env: { ...process.env, CDK_OUTDIR: out, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_DEFAULT_REGION: 'eu-west-1', CDK_DEFAULT_ACCOUNT: '123456789012' },
    encoding: 'utf8',
    timeout: 180_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return { template: JSON.parse(readFileSync(join(out, 'twinroot.template.json'), 'utf8')) as Record<string, unknown>, out };
}

const { template: json, out } = synthApp();
const t = Template.fromJSON(json);

test('cdk synth works offline and stages the backend image from deploy/Dockerfile (without node_modules)', () => {
  const assets = readdirSync(out).filter((f) => f.startsWith('asset.'));
  assert.equal(assets.length, 1, assets.join(', '));
  const staged = join(out, assets[0]!);
  assert.ok(readdirSync(join(staged, 'deploy')).includes('Dockerfile'));
  assert.ok(!readdirSync(staged).includes('node_modules'), 'the build context leaves node_modules out (.dockerignore)');
  assert.ok(readdirSync(join(staged, 'backend')).includes('src'));
  rmSync(out, { recursive: true, force: true });
});

test('the tables are the backend\'s own definitions: keys, every sparse GSI, TTL where the code sets it', () => {
  const names = tableNames('twinroot-');
  t.resourceCountIs('AWS::DynamoDB::Table', Object.keys(TABLES).length);
  for (const [name, def] of Object.entries(TABLES)) {
    t.hasResourceProperties('AWS::DynamoDB::Table', {
      TableName: names[name as keyof typeof names],
      KeySchema: [{ AttributeName: def.key, KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
      ...(def.indexes.length > 0
        ? { GlobalSecondaryIndexes: def.indexes.map((ix) => Match.objectLike({ IndexName: ix.name, KeySchema: [{ AttributeName: ix.hash, KeyType: 'HASH' }, { AttributeName: ix.range, KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } })) }
        : {}),
      ...('ttlAttribute' in def ? { TimeToLiveSpecification: { AttributeName: def.ttlAttribute, Enabled: true } } : {}),
    });
  }
  t.allResources('AWS::DynamoDB::Table', { DeletionPolicy: 'Retain' });
});

/** The AWS actions the backend's source calls: every `new XCommand(` (and lib-storage's Upload), mapped to IAM. */
function actionsTheCodeCalls(): Set<string> {
  const files = readdirSync(join(repo, 'backend/src'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
  const text = files.map((f) => readFileSync(join(repo, 'backend/src', f), 'utf8')).join('\n');
  const commands = new Set([...text.matchAll(/new ([A-Z][A-Za-z]+)Command\(/g)].map((m) => `${m[1]}Command`));
  for (const c of MIGRATION_ONLY_COMMANDS) assert.ok(commands.delete(c), `${c} is no longer called: drop it from MIGRATION_ONLY_COMMANDS`);
  const dynamoDocument: Record<string, string> = { Get: 'GetItem', Put: 'PutItem', Update: 'UpdateItem', Delete: 'DeleteItem', Query: 'Query', Scan: 'Scan', BatchWrite: 'BatchWriteItem', ListTables: 'ListTables', DescribeTable: 'DescribeTable' };
  // PutObject: the presigned PUT of a log bundle is signed with the task role's credentials.
  const s3: Record<string, string[]> = { GetObject: ['s3:GetObject'], HeadObject: ['s3:GetObject', 's3:ListBucket'], DeleteObject: ['s3:DeleteObject'], PutObject: ['s3:PutObject'] };
  const out = new Set<string>();
  for (const c of commands) {
    const name = c.replace(/Command$/, '');
    if (dynamoDocument[name]) out.add(`dynamodb:${dynamoDocument[name]}`);
    else if (s3[name]) for (const a of s3[name]) out.add(a);
    else out.add(`iot:${name}`); // IoT control plane and the data plane's Publish
  }
  // lib-storage's multipart Upload: PutObject (and the multipart calls it makes under it), AbortMultipartUpload on failure.
  if (/new Upload\(/.test(text)) for (const a of ['s3:PutObject', 's3:AbortMultipartUpload']) out.add(a);
  return out;
}

type Statement = { Sid?: string; Action: string | string[]; Effect: string; Resource: unknown };
/** The statements of the policies attached to the backend task's role (not the execution role ECS itself uses). */
function taskRoleStatements(): Statement[] {
  const taskDef = Object.values(t.findResources('AWS::ECS::TaskDefinition'))[0] as { Properties: { TaskRoleArn: { 'Fn::GetAtt': [string, string] } } };
  const role = taskDef.Properties.TaskRoleArn['Fn::GetAtt'][0];
  return (Object.values(t.findResources('AWS::IAM::Policy')) as { Properties: { Roles: { Ref: string }[]; PolicyDocument: { Statement: Statement[] } } }[])
    .filter((p) => p.Properties.Roles.some((r) => r.Ref === role))
    .flatMap((p) => p.Properties.PolicyDocument.Statement);
}

test('the task role grants exactly the AWS actions the backend\'s code calls — nothing more, nothing missing', () => {
  const granted = new Set<string>();
  for (const s of taskRoleStatements()) {
    assert.equal(s.Effect, 'Allow');
    for (const a of Array.isArray(s.Action) ? s.Action : [s.Action]) granted.add(a);
  }
  const declared = new Set(Object.values(BACKEND_ACTIONS).flat());
  assert.deepEqual([...granted].sort(), [...declared].sort(), 'the stack grants what BACKEND_ACTIONS declares');
  assert.deepEqual([...declared].sort(), [...actionsTheCodeCalls()].sort(), 'BACKEND_ACTIONS is what the code calls');
  assert.ok(![...granted].some((a) => a.includes('*')), 'no wildcard actions');
});

test('the task role: table actions on the tables and their indexes, Publish on task topics only, * only where IAM has no resource-level permission', () => {
  const statements = taskRoleStatements();
  const publish = statements.find((s) => s.Sid === 'PublishTasks');
  assert.match(JSON.stringify(publish?.Resource), /topic\/twinroot\/appliances\/\*\/tasks/);
  const tables = statements.find((s) => s.Sid === 'Tables');
  assert.equal((tables?.Resource as unknown[]).length, Object.keys(TABLES).length * 2);
  const star = statements.filter((s) => s.Resource === '*').map((s) => s.Sid).sort();
  assert.deepEqual(star, ['IssueCertificates', 'ListTables']);
});

test('the bucket is private: all public access blocked, encrypted, TLS only, log bundles expire', () => {
  t.hasResourceProperties('AWS::S3::Bucket', {
    PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
    LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ Prefix: 'log-bundles/', ExpirationInDays: 30, Status: 'Enabled' })]) },
  });
  t.hasResourceProperties('AWS::S3::BucketPolicy', {
    PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
  });
});

test('the appliances\' IoT policy is the repository\'s document', () => {
  t.hasResourceProperties('AWS::IoT::Policy', { PolicyName: 'twinroot-appliance', PolicyDocument: appliancePolicyDocument() });
});

test('the backend runs as at least two Fargate tasks behind an HTTPS listener (HTTP redirects), health-checked on /healthz, keys from the secret', () => {
  t.hasResourceProperties('AWS::ECS::Service', { DesiredCount: 2, LaunchType: 'FARGATE' });
  t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Protocol: 'HTTPS', Port: 443, Certificates: [{ CertificateArn: context.certificateArn }] });
  t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Protocol: 'HTTP', DefaultActions: [Match.objectLike({ Type: 'redirect' })] });
  t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', { HealthCheckPath: '/healthz' });
  const container = (Object.values(t.findResources('AWS::ECS::TaskDefinition'))[0] as { Properties: { ContainerDefinitions: { Environment: { Name: string; Value: unknown }[]; Secrets: { Name: string }[] }[] } }).Properties.ContainerDefinitions[0]!;
  const env = Object.fromEntries(container.Environment.map((e) => [e.Name, e.Value]));
  assert.equal(env.TWINROOT_MQTT_URL, 'aws-iot');
  assert.equal(env.TWINROOT_DYNAMODB_ENDPOINT, 'aws');
  assert.equal(env.TWINROOT_PUBLIC_URL, context.publicUrl);
  assert.deepEqual(container.Secrets.map((s) => s.Name).sort(), ['TWINROOT_OPERATOR_KEY', 'TWINROOT_REGISTER_TOKEN_KEY_PEM', 'TWINROOT_RELEASE_PUBLIC_KEY_PEM']);
  assert.throws(() => new TwinrootStack(new App(), 'one', { image: ContainerImage.fromRegistry('x'), ...context, desiredCount: 1 }), /at least 2/);
});

test('alarms: each failure the backend logs (sweeps, publishes, rollout passes) and 5xx; every alarmed message is one the backend writes', () => {
  const source = readdirSync(join(repo, 'backend/src'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(join(repo, 'backend/src', f), 'utf8')).join('\n');
  for (const msg of Object.values(ALARMED_LOG_MESSAGES)) {
    assert.ok(source.includes(`'${msg}'`), `the backend no longer logs "${msg}"`);
    t.hasResourceProperties('AWS::Logs::MetricFilter', { FilterPattern: `{ $.msg = "${msg}" }` });
  }
  t.resourceCountIs('AWS::CloudWatch::Alarm', Object.keys(ALARMED_LOG_MESSAGES).length + 3);
  t.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'HTTPCode_Target_5XX_Count' });
});
