import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** The backend's Prometheus metrics, in a registry of their own (several backends may share a process in tests). */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'twinroot_backend_' });
  const m = {
    registry,
    taskTransitions: new Counter({ name: 'twinroot_task_transitions_total', help: 'Tasks entering a status, by task type and status', labelNames: ['taskType', 'status'], registers: [registry] }),
    taskPublishes: new Counter({ name: 'twinroot_task_publishes_total', help: 'Task messages published to the broker (first sends and resends)', labelNames: ['taskType', 'kind'], registers: [registry] }),
    heartbeats: new Counter({ name: 'twinroot_heartbeats_total', help: 'Heartbeats received from appliances', registers: [registry] }),
    appliancePresence: new Counter({ name: 'twinroot_presence_changes_total', help: 'Appliances marked disconnected or reconnected', labelNames: ['to'], registers: [registry] }),
    sweepRuns: new Counter({ name: 'twinroot_sweep_runs_total', help: 'Scheduled sweeps, by sweep and outcome (ran, skipped: lease held elsewhere, error)', labelNames: ['sweep', 'outcome'], registers: [registry] }),
    sweepItems: new Counter({ name: 'twinroot_sweep_items_total', help: 'Due items a sweep handled', labelNames: ['sweep'], registers: [registry] }),
    sweepSeconds: new Histogram({ name: 'twinroot_sweep_duration_seconds', help: 'Wall time of a sweep run', labelNames: ['sweep'], buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120], registers: [registry] }),
    dynamoSeconds: new Histogram({ name: 'twinroot_dynamodb_request_duration_seconds', help: 'DynamoDB request latency by command', labelNames: ['command', 'outcome'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [registry] }),
    dynamoRequests: 0,
    /** DynamoDB requests by command (e.g. GetItemCommand, PutItemCommand), for benchmarks that count writes. */
    dynamoCommands: {} as Record<string, number>,
    httpSeconds: new Histogram({ name: 'twinroot_http_request_duration_seconds', help: 'HTTP request latency by route and status code', labelNames: ['route', 'method', 'code'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5], registers: [registry] }),
    brokerUp: new Gauge({ name: 'twinroot_broker_up', help: '1 when the MQTT broker is up', registers: [registry] }),
  };
  return m;
}
export type Metrics = ReturnType<typeof createMetrics>;

/** Times every request the client sends (middleware at the end of the SDK stack) and counts them. */
export function instrumentDynamo(client: DynamoDBClient, metrics: Metrics): void {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const started = performance.now();
      const command = (context as { commandName?: string }).commandName ?? 'unknown';
      metrics.dynamoRequests += 1;
      metrics.dynamoCommands[command] = (metrics.dynamoCommands[command] ?? 0) + 1;
      try {
        const out = await next(args);
        metrics.dynamoSeconds.observe({ command, outcome: 'ok' }, (performance.now() - started) / 1000);
        return out;
      } catch (err) {
        metrics.dynamoSeconds.observe({ command, outcome: 'error' }, (performance.now() - started) / 1000);
        throw err;
      }
    },
    { step: 'initialize', name: 'twinrootMetrics' },
  );
}
