import type { FastifyBaseLogger } from 'fastify';
import type { Clock } from '../clock.js';
import type { Metrics } from '../metrics.js';
import type { TaskBroker } from '../broker/types.js';
import type { Store } from '../store/store.js';

/**
 * Fault injection points for crash tests: a hook that throws here simulates the process
 * dying at that point (after the store write, before the publish).
 */
export interface Faults {
  beforePublish?(taskId: string): void;
  /** After a chunk of a rollout's targets was written, before the progress (and lease) is recorded. */
  afterPreparationChunk?(rolloutId: string, written: number): void | Promise<void>;
}

/** What every service needs: the store, the broker, the time, metrics and a logger. */
export interface ServiceContext {
  store: Store;
  broker: TaskBroker;
  clock: Clock;
  metrics: Metrics;
  log: FastifyBaseLogger;
  faults?: Faults;
}
