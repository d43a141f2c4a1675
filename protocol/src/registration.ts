import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, PLAIN_TEXT_PATTERN, Slot, Timestamp, Version } from './common.js';

export const RegisterRequest = Type.Object(
  {
    registerToken: Type.String({ minLength: 16, maxLength: 4096 }),
    hostname: Name,
    cpu: Type.String({ minLength: 1, maxLength: 256, pattern: PLAIN_TEXT_PATTERN }),
    memoryMb: Type.Integer({ minimum: 1, maximum: 16 * 1024 * 1024 }),
    ip: Type.String({ minLength: 2, maxLength: 45, pattern: '^[0-9A-Fa-f:.]+$' }),
    version: Version,
    slot: Slot,
    /** Chosen once by the appliance for its registration: a retry after a lost answer gets the same appliance. */
    idempotencyKey: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{16,128}$' })),
  },
  { additionalProperties: false },
);
export type RegisterRequest = Static<typeof RegisterRequest>;

export const MqttSettings = Type.Object(
  {
    url: Type.String({ pattern: '^(mqtts?|tcp|ssl|wss?)://', maxLength: 2048 }),
    clientId: Id,
    topic: Type.String({ minLength: 1, maxLength: 256 }),
  },
  { additionalProperties: false },
);
export type MqttSettings = Static<typeof MqttSettings>;

export const RegisterResponse = Type.Object(
  {
    applianceId: Id,
    applianceToken: Type.String({ minLength: 32, maxLength: 512 }),
    tokenExpiresAt: Timestamp,
    mqtt: MqttSettings,
  },
  { additionalProperties: false },
);
export type RegisterResponse = Static<typeof RegisterResponse>;

export const TokenRefreshResponse = Type.Object(
  { applianceToken: Type.String({ minLength: 32, maxLength: 512 }), tokenExpiresAt: Timestamp },
  { additionalProperties: false },
);
export type TokenRefreshResponse = Static<typeof TokenRefreshResponse>;
