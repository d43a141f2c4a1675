import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { compile } from './validate.js';
import { Manifest, manifestConsistencyError } from './manifest.js';

/**
 * Release signatures: Ed25519 over the exact bytes of manifest.json. The `.sig` file holds the
 * 64-byte signature in base64 (one line), so it survives any text-oriented transport.
 */

export class SignatureError extends Error {
  constructor(readonly code: 'bad_key' | 'bad_signature' | 'bad_manifest', message: string) {
    super(message);
    this.name = 'SignatureError';
  }
}

function loadKey(pem: string | Buffer, source: string, parse: (pem: string | Buffer) => KeyObject, what: string): KeyObject {
  let key: KeyObject;
  try {
    key = parse(pem);
  } catch (err) {
    throw new SignatureError('bad_key', `${source} is not a PEM ${what}: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new SignatureError('bad_key', `${source} is a ${key.asymmetricKeyType} key; releases are signed with Ed25519`);
  return key;
}

export function loadPublicKey(pem: string | Buffer, source = 'public key'): KeyObject {
  return loadKey(pem, source, createPublicKey, 'public key');
}

export function loadPrivateKey(pem: string | Buffer, source = 'signing key'): KeyObject {
  return loadKey(pem, source, createPrivateKey, 'private key');
}

export function signManifest(manifestBytes: Buffer, key: KeyObject): string {
  return sign(null, manifestBytes, key).toString('base64') + '\n';
}

/** Decodes a `.sig` file: base64 text of exactly 64 bytes. */
export function decodeSignature(sig: Buffer | string): Buffer {
  const text = (typeof sig === 'string' ? sig : sig.toString('latin1')).trim();
  if (!/^[A-Za-z0-9+/]{86}==$/.test(text)) throw new SignatureError('bad_signature', 'manifest.json.sig is not a base64 Ed25519 signature (88 characters)');
  return Buffer.from(text, 'base64');
}

const validateManifest = compile(Manifest);

/**
 * The one rule for every signed JSON document (release and service manifests): the signature is
 * verified first and only then are the bytes parsed — nothing unsigned is ever interpreted.
 * `what` names the document and `keyName` the key in the errors.
 */
export function verifySignedJson(bytes: Buffer, sig: Buffer | string, key: KeyObject, what: string, keyName: string): unknown {
  if (!verify(null, bytes, key, decodeSignature(sig))) throw new SignatureError('bad_signature', `the ${what} signature does not match the pinned ${keyName}`);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new SignatureError('bad_manifest', `the ${what} is signed but is not JSON`);
  }
}

/** A release manifest: signature, then schema and consistency. */
export function verifyManifest(manifestBytes: Buffer, sig: Buffer | string, key: KeyObject): Manifest {
  const raw = verifySignedJson(manifestBytes, sig, key, 'manifest', 'public key');
  const v = validateManifest(raw);
  if (!v.ok) throw new SignatureError('bad_manifest', `manifest.json: ${v.error}`);
  const inconsistent = manifestConsistencyError(v.value);
  if (inconsistent) throw new SignatureError('bad_manifest', `manifest.json: ${inconsistent}`);
  return v.value;
}

/** Size of chunk `i` of a payload. */
export function chunkLength(m: Pick<Manifest['payload'], 'size' | 'chunkSize'>, i: number): number {
  return Math.min(m.chunkSize, m.size - i * m.chunkSize);
}
