import { Type, type Static } from '@sinclair/typebox';
import { Sha256Hex, Timestamp, Version } from './common.js';
import { MAX_CHUNKS, MAX_PAYLOAD_BYTES } from './limits.js';

export const CPU_LEVELS = ['x86-64', 'x86-64-v2', 'x86-64-v3', 'x86-64-v4'] as const;
export type CpuLevel = (typeof CPU_LEVELS)[number];

export const Manifest = Type.Object(
  {
    format: Type.Literal(1),
    version: Version,
    /** What this image can replace, e.g. "acme-va-rocky9-x86_64": must equal the appliance's. */
    compatible: Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._-]+$' }),
    minAgentVersion: Type.Optional(Version),
    requires: Type.Object(
      {
        cpuLevel: Type.Optional(Type.Union(CPU_LEVELS.map((l) => Type.Literal(l)))),
        minDiskBytes: Type.Integer({ minimum: 0, maximum: MAX_PAYLOAD_BYTES * 8 }),
      },
      { additionalProperties: false },
    ),
    payload: Type.Object(
      {
        // A plain file name beside the manifest: not "." or ".." (a directory), not hidden.
        file: Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9_-][A-Za-z0-9._-]*$' }),
        compression: Type.Union([Type.Literal('zstd'), Type.Literal('xz')]),
        size: Type.Integer({ minimum: 1, maximum: MAX_PAYLOAD_BYTES }),
        sha256: Sha256Hex,
        chunkSize: Type.Integer({ minimum: 64 * 1024, maximum: 1024 * 1024 * 1024 }),
        chunks: Type.Array(Sha256Hex, { minItems: 1, maxItems: MAX_CHUNKS }),
      },
      { additionalProperties: false },
    ),
    createdAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Manifest = Static<typeof Manifest>;

/** Checks a schema-valid manifest for what a schema cannot say: the chunk list matches the size. */
export function manifestConsistencyError(m: Manifest): string | null {
  const expected = Math.ceil(m.payload.size / m.payload.chunkSize);
  if (m.payload.chunks.length !== expected) {
    return `payload.chunks has ${m.payload.chunks.length} hashes, but size ${m.payload.size} / chunkSize ${m.payload.chunkSize} needs ${expected}`;
  }
  if (m.payload.file === 'manifest.json' || m.payload.file === 'manifest.json.sig') {
    return `payload.file must not be named ${m.payload.file}`;
  }
  return null;
}
