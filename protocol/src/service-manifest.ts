import type { KeyObject } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { ServiceCode, Sha256Hex, Timestamp, Version } from './common.js';
import { SignatureError, verifySignedJson } from './signature.js';
import { compile } from './validate.js';

/** Largest service bundle an appliance takes (images of a Kubernetes service). */
export const MAX_SERVICE_BUNDLE_BYTES = 20 * 2 ** 30;
/** A service manifest is a few hundred bytes; anything much larger is refused unread. */
export const MAX_SERVICE_MANIFEST_BYTES = 64 * 1024;

/**
 * A service bundle's signed manifest (`<bundle>.manifest.json` + `.sig`, Ed25519 like a
 * release's): which service and version the bundle is, and its exact size and hash. The
 * appliance verifies it with its pinned service key before it downloads or runs anything.
 */
export const ServiceManifest = Type.Object(
  {
    format: Type.Literal(1),
    kind: Type.Literal('service'),
    serviceCode: ServiceCode,
    version: Version,
    bundle: Type.Object({ size: Type.Integer({ minimum: 1, maximum: MAX_SERVICE_BUNDLE_BYTES }), sha256: Sha256Hex }, { additionalProperties: false }),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type ServiceManifest = Static<typeof ServiceManifest>;

const validate = compile(ServiceManifest);

/** Verifies the signature first and only then parses (nothing unsigned is interpreted). */
export function verifyServiceManifest(bytes: Buffer, sig: Buffer | string, key: KeyObject): ServiceManifest {
  if (bytes.length > MAX_SERVICE_MANIFEST_BYTES) throw new SignatureError('bad_manifest', `service manifest is larger than ${MAX_SERVICE_MANIFEST_BYTES} bytes`);
  const v = validate(verifySignedJson(bytes, sig, key, 'service manifest', 'service key'));
  if (!v.ok) throw new SignatureError('bad_manifest', `service manifest: ${v.error}`);
  return v.value;
}
