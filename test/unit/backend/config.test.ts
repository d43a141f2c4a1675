import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_KEYS, ConfigError, envName, loadConfig } from '@twinroot/backend';

const dir = mkdtempSync(join(tmpdir(), 'twinroot-config-'));
function file(content: unknown): string {
  const f = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, typeof content === 'string' ? content : JSON.stringify(content));
  return f;
}

test('defaults: embedded store and broker', () => {
  const c = loadConfig({ env: {} });
  assert.equal(c.dynamodbEndpoint, 'embedded');
  assert.equal(c.mqttUrl, 'embedded');
  assert.equal(c.httpPort, 8080);
  assert.equal(c.mqttPort, 1883);
});

test('env names are TWINROOT_ + SCREAMING_SNAKE of the key', () => {
  assert.equal(envName('httpPort'), 'TWINROOT_HTTP_PORT');
  assert.equal(envName('dynamodbTablePrefix'), 'TWINROOT_DYNAMODB_TABLE_PREFIX');
  assert.equal(envName('mqttCaFile'), 'TWINROOT_MQTT_CA_FILE');
});

test('environment overrides the file, which overrides defaults', () => {
  const f = file({ httpPort: 9000, dataDir: '/var/lib/twinroot', dynamodbEndpoint: 'aws', dynamodbRegion: 'eu-west-1' });
  const c = loadConfig({ file: f, env: { TWINROOT_HTTP_PORT: '9100' } });
  assert.equal(c.httpPort, 9100);
  assert.equal(c.dataDir, '/var/lib/twinroot');
  assert.equal(c.dynamodbEndpoint, 'aws');
  assert.equal(c.dynamodbRegion, 'eu-west-1');
  assert.equal(loadConfig({ env: { TWINROOT_CONFIG: f } }).httpPort, 9000, 'TWINROOT_CONFIG names the file');
});

const bad: [string, () => unknown, RegExp][] = [
  ['a port that is not a number', () => loadConfig({ env: { TWINROOT_HTTP_PORT: 'eighty' } }), /TWINROOT_HTTP_PORT \(httpPort\): expected a port/],
  ['a port out of range', () => loadConfig({ env: { TWINROOT_MQTT_PORT: '70000' } }), /TWINROOT_MQTT_PORT/],
  ['an unknown log level', () => loadConfig({ env: { TWINROOT_LOG_LEVEL: 'loud' } }), /TWINROOT_LOG_LEVEL/],
  ['a DynamoDB endpoint that is not a URL', () => loadConfig({ env: { TWINROOT_DYNAMODB_ENDPOINT: 'dynamo.local' } }), /TWINROOT_DYNAMODB_ENDPOINT.*"embedded" or "aws"/],
  ['an MQTT URL with the wrong scheme', () => loadConfig({ env: { TWINROOT_MQTT_URL: 'http://broker:1883' } }), /TWINROOT_MQTT_URL/],
  ['a misspelt variable of ours', () => loadConfig({ env: { TWINROOT_HTTP_PROT: '1' } }), /TWINROOT_HTTP_PROT: unknown variable/],
  ['an unknown key in the file', () => loadConfig({ file: file({ httpPortt: 1 }), env: {} }), /unknown key "httpPortt"/],
  ['a wrong type in the file', () => loadConfig({ file: file({ httpHost: 5 }), env: {} }), /httpHost.*expected a string/],
  ['a file that is not JSON', () => loadConfig({ file: file('{port: 1'), env: {} }), /config file .*JSON/],
  ['a file that is an array', () => loadConfig({ file: file([1]), env: {} }), /expected a JSON object/],
  ['a missing file', () => loadConfig({ file: join(dir, 'nope.json'), env: {} }), /ENOENT/],
  ['a cert without a key', () => loadConfig({ env: { TWINROOT_MQTT_CERT_FILE: '/etc/c.pem' } }), /must be given together/],
  ['an unknown MQTT login method', () => loadConfig({ env: { TWINROOT_MQTT_AUTH: 'password' } }), /TWINROOT_MQTT_AUTH \(mqttAuth\): expected "token", "certificate" or "token,certificate"/],
  ['a login method named twice', () => loadConfig({ env: { TWINROOT_MQTT_AUTH: 'certificate,certificate' } }), /TWINROOT_MQTT_AUTH/],
  ['an embedded CA certificate without its key', () => loadConfig({ env: { TWINROOT_CA_CERT_FILE: '/etc/ca.pem' } }), /TWINROOT_CA_CERT_FILE.*must be given together/],
  ['a misspelt AWS IoT variable', () => loadConfig({ env: { TWINROOT_AWS_IOT_ENDPIONT: 'x' } }), /TWINROOT_AWS_IOT_ENDPIONT: unknown variable/],
  ['an unknown artifact download mode', () => loadConfig({ env: { TWINROOT_ARTIFACT_DOWNLOADS: 'sendfile' } }), /TWINROOT_ARTIFACT_DOWNLOADS \(artifactDownloads\): expected "redirect" or "proxy"/],
  ['a value with a newline', () => loadConfig({ env: { TWINROOT_HTTP_HOST: 'a\nb' } }), /control characters/],
];
for (const [why, fn, re] of bad) {
  test(`refuses ${why} with an error naming the key`, () => {
    assert.throws(fn, (err: unknown) => err instanceof ConfigError && re.test(err.message));
  });
}

test('the MQTT login settings: token (default), certificate, both; "aws-iot" is a broker mode', () => {
  assert.equal(loadConfig({ env: {} }).mqttAuth, 'token');
  assert.equal(loadConfig({ env: { TWINROOT_MQTT_AUTH: 'certificate' } }).mqttAuth, 'certificate');
  assert.equal(loadConfig({ env: { TWINROOT_MQTT_AUTH: 'token,certificate' } }).mqttAuth, 'token,certificate');
  assert.equal(loadConfig({ env: { TWINROOT_MQTT_URL: 'aws-iot' } }).mqttUrl, 'aws-iot');
  assert.equal(loadConfig({ env: {} }).mqttTlsPort, 8883);
});

test('production mode refuses what would make an instance keep its own keys or state, naming each', () => {
  assert.throws(
    () => loadConfig({ env: { TWINROOT_MODE: 'production' } }),
    (err: unknown) =>
      err instanceof ConfigError &&
      ['operatorKey', 'registerTokenKeyFile', 'releasePublicKeyFile', 'dynamodbEndpoint "embedded"', 'mqttAuth must be "certificate"', 'caCertFile'].every((k) => err.message.includes(k)),
  );
  const ok = {
    TWINROOT_MODE: 'production',
    TWINROOT_OPERATOR_KEY: 'k'.repeat(32),
    TWINROOT_REGISTER_TOKEN_KEY_FILE: '/run/keys/register-token-key.pem',
    TWINROOT_RELEASE_PUBLIC_KEY_FILE: '/run/keys/release-signing.pub',
    TWINROOT_DYNAMODB_ENDPOINT: 'aws',
    TWINROOT_MQTT_URL: 'aws-iot',
  };
  assert.equal(loadConfig({ env: ok }).mode, 'production');
  assert.throws(() => loadConfig({ env: { ...ok, TWINROOT_MQTT_URL: 'embedded' } }), /mqttAuth must be "certificate".*caCertFile/);
  assert.throws(() => loadConfig({ env: { TWINROOT_MODE: 'staging' } }), /TWINROOT_MODE \(mode\): expected "development" or "production"/);
  assert.equal(loadConfig({ env: {} }).mode, 'development');
});

test('the example configuration files in backend/config load', () => {
  const prod = loadConfig({ file: new URL('../../../backend/config/production.example.json', import.meta.url).pathname, env: { TWINROOT_OPERATOR_KEY: 'k'.repeat(32), TWINROOT_REGISTER_TOKEN_KEY_FILE: '/k', TWINROOT_RELEASE_PUBLIC_KEY_FILE: '/p' } });
  assert.equal(prod.mqttUrl, 'aws-iot');
  const mtls = loadConfig({ file: new URL('../../../backend/config/embedded-mtls.example.json', import.meta.url).pathname, env: {} });
  assert.equal(mtls.mqttAuth, 'certificate');
});

test('other programs\' TWINROOT_ variables are left alone', () => {
  assert.doesNotThrow(() => loadConfig({ env: { TWINROOT_AGENT_STATE_DIR: '/x' } }));
});

test('every key has help text for the README table', () => {
  for (const [k, spec] of Object.entries(CONFIG_KEYS)) assert.ok(spec.help.length > 10, k);
});
