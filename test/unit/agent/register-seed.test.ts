import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRegisterSeed, readRegisterSeed } from '../../../agent/src/cli/register-seed.js';

const TOKEN = 'eyJhbGciOiJFZERTQSJ9.eyJjdXN0b21lcklkIjoiYyJ9.c2lnbmF0dXJl';

test('a registration seed gives the backend URL and the register token', () => {
  assert.deepEqual(parseRegisterSeed(JSON.stringify({ backendUrl: 'http://10.0.2.2:8080', registerToken: TOKEN }), 'seed'), { backendUrl: 'http://10.0.2.2:8080', registerToken: TOKEN });
  assert.equal(parseRegisterSeed(JSON.stringify({ backendUrl: 'https://fleet.example.com/base', registerToken: TOKEN, note: 'extra keys are ignored' }), 's').backendUrl, 'https://fleet.example.com/base');
});

test('a bad seed is one clear error naming where it came from', () => {
  const bad: [string, RegExp][] = [
    ['not json', /seed.json: the registration seed is not JSON/],
    ['[1]', /must be a JSON object/],
    ['null', /must be a JSON object/],
    [JSON.stringify({ registerToken: TOKEN }), /backendUrl must be an http\(s\) URL/],
    [JSON.stringify({ backendUrl: 'ftp://x', registerToken: TOKEN }), /backendUrl must be an http\(s\) URL/],
    [JSON.stringify({ backendUrl: 'http://a b', registerToken: TOKEN }), /backendUrl must be an http\(s\) URL/],
    [JSON.stringify({ backendUrl: 'http://x' }), /registerToken is missing or is not a token/],
    [JSON.stringify({ backendUrl: 'http://x', registerToken: 'short' }), /registerToken is missing/],
    [JSON.stringify({ backendUrl: 'http://x', registerToken: `${TOKEN}; rm -rf /` }), /registerToken is missing or is not a token/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseRegisterSeed(text, 'seed.json'), re, text);
});

test('an unreadable seed file says so', () => {
  const dir = mkdtempSync(join(tmpdir(), 'twinroot-seed-'));
  assert.throws(() => readRegisterSeed(join(dir, 'missing.json')), /cannot read the registration seed .*missing\.json: ENOENT/);
  writeFileSync(join(dir, 'seed.json'), JSON.stringify({ backendUrl: 'http://h:1', registerToken: TOKEN }));
  assert.equal(readRegisterSeed(join(dir, 'seed.json')).registerToken, TOKEN);
});
