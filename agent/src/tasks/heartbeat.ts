import { uptime } from 'node:os';
import type { Heartbeat } from '@twinroot/protocol';
import type { BackendClient } from '../backend/client.js';
import { runningVersion, type SlotStatusSource } from '../slots/status.js';
import { TaskFailure } from '../dispatch/dispatcher.js';
import { servicesStatus, type ServiceRegistry } from './services.js';

export interface HeartbeatSources {
  slots: SlotStatusSource;
  servicesCommand?: string[];
  registry: ServiceRegistry;
  /** The client certificate the MQTT connection uses (the backend retires the old one of a rotation once it sees the new one). */
  certificateId?: () => string | undefined;
}

export async function collectHeartbeat(deps: HeartbeatSources, taskId?: string): Promise<Heartbeat> {
  const s = await deps.slots.status();
  const certificateId = deps.certificateId?.();
  return {
    ...(certificateId ? { certificateId } : {}),
    ...(taskId ? { taskId } : {}),
    version: runningVersion(s),
    bootedSlot: s.bootedSlot,
    committedSlot: s.committedSlot,
    trial: s.trial,
    services: await servicesStatus(deps.servicesCommand, deps.registry),
    uptimeS: Math.floor(uptime()),
  };
}

export function heartbeatHandler(deps: HeartbeatSources & { backend: BackendClient; applianceId: () => string }) {
  return async (task: { taskId: string }) => {
    let hb: Heartbeat;
    try {
      hb = await collectHeartbeat(deps, task.taskId);
    } catch (err) {
      throw new TaskFailure('status_unavailable', (err as Error).message);
    }
    await deps.backend.heartbeat(deps.applianceId(), hb);
    return { detail: { version: hb.version, bootedSlot: hb.bootedSlot } };
  };
}
