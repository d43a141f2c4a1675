import { Type, type Static } from '@sinclair/typebox';
import { Id, Name, Slot, Version } from './common.js';
import { MAX_SERVICES } from './limits.js';

export const SERVICE_STATUSES = ['running', 'stopped', 'failed', 'installing', 'unknown'] as const;

export const ServiceStatus = Type.Object(
  { name: Name, status: Type.Union(SERVICE_STATUSES.map((s) => Type.Literal(s))) },
  { additionalProperties: false },
);

export const Heartbeat = Type.Object(
  {
    taskId: Type.Optional(Id),
    version: Version,
    bootedSlot: Slot,
    committedSlot: Slot,
    trial: Type.Boolean(),
    services: Type.Array(ServiceStatus, { maxItems: MAX_SERVICES }),
    uptimeS: Type.Integer({ minimum: 0 }),
    /**
     * The agent's MQTT session is new (first connection, or the broker lost it): tasks the
     * backend published before it subscribed never reached it, and are sent again.
     */
    mqttSessionStarted: Type.Optional(Type.Boolean()),
    /** The client certificate the agent's MQTT connection uses: once the new one of a rotation is in use, the old one is retired. */
    certificateId: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })),
  },
  { additionalProperties: false },
);
export type Heartbeat = Static<typeof Heartbeat>;
