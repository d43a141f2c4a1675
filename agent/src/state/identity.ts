import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { compile, Id, MqttSettings, Timestamp } from '@twinroot/protocol';
import { writeFileAtomic } from './atomic-file.js';

/** What registration gives an appliance; kept in the state directory, mode 0600. */
export const Identity = Type.Object(
  {
    applianceId: Id,
    applianceToken: Type.String({ minLength: 32, maxLength: 512 }),
    tokenExpiresAt: Timestamp,
    backendUrl: Type.String({ pattern: '^https?://', maxLength: 2048 }),
    mqtt: MqttSettings,
    /** The MQTT client certificate (mqtt.auth "certificate"): its id and the files of it, its key and the broker's CA. */
    certificate: Type.Optional(
      Type.Object(
        {
          certificateId: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }),
          expiresAt: Timestamp,
          certFile: Type.String({ minLength: 1, maxLength: 4096 }),
          keyFile: Type.String({ minLength: 1, maxLength: 4096 }),
          caFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
        },
        { additionalProperties: false },
      ),
    ),
    registeredAt: Timestamp,
  },
  { additionalProperties: false },
);
export type Identity = Static<typeof Identity>;
const validate = compile(Identity);

export const identityPath = (stateDir: string) => join(stateDir, 'identity.json');

export function readIdentity(stateDir: string): Identity | null {
  const p = identityPath(stateDir);
  if (!existsSync(p)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(p, 'utf8'));
  } catch (err) {
    throw new Error(`${p} is not valid JSON (${(err as Error).message}); re-register with \`twinroot register\``);
  }
  const v = validate(parsed);
  if (!v.ok) throw new Error(`${p} is invalid (${v.error}); re-register with \`twinroot register\``);
  return v.value;
}

export function writeIdentity(stateDir: string, id: Identity): void {
  writeFileAtomic(identityPath(stateDir), JSON.stringify(id, null, 2) + '\n', 0o600);
}
