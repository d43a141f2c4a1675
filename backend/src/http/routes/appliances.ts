import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import {
  Appliance,
  ApiError,
  compile,
  CreateTaskRequest,
  DesiredService,
  Id,
  ListAppliancesQuery,
  PAGE_LIMIT_DEFAULT,
  Page,
  RollbackRequest,
  ServiceCode,
  TASK_BODY_SCHEMAS,
  TaskCreated,
  TaskView,
  UpgradeRequest,
  type TaskType,
} from '@twinroot/protocol';
import { statusFilter } from '../../domain/appliance-record.js';
import type { StartUpgradeOptions } from '../../services/appliances.js';
import { isTerminal } from '../../domain/task-record.js';
import type { StoredAppliance } from '../../store/store.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { decodePageToken, encodePageToken } from '../pagination.js';
import { applianceView, taskView } from '../views.js';
import { DomainError, notFound } from '../../domain/domain-error.js';

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const security = [{ operatorKey: [] }];
const errors = { 400: ApiError, 401: ApiError, 404: ApiError, 409: ApiError };
const created = { 202: TaskCreated, ...errors };
const bodyValidators = Object.fromEntries(Object.entries(TASK_BODY_SCHEMAS).map(([k, s]) => [k, compile(s)])) as Record<TaskType, (v: unknown) => { ok: boolean; error?: string }>;

/** Operator API: appliances, their tasks, upgrade/rollback of one appliance, recorded services. */
/** A task timeline's page size when the request names none. */
const TASK_PAGE_DEFAULT = 50;

export function applianceRoutes(deps: ApiDeps): FastifyPluginAsync {
  const { ctx } = deps;

  async function appliance(id: string): Promise<StoredAppliance> {
    const a = await ctx.store.appliances.get(id, false);
    if (!a) throw notFound(`no appliance ${id}`);
    return a;
  }

  async function send(applianceId: string, taskType: TaskType, body: Record<string, unknown>, createdBy: string) {
    const v = bodyValidators[taskType](body);
    if (!v.ok) throw new DomainError('bad_task_body', `body: ${v.error}`);
    const t = await deps.tasks.create({ applianceId, taskType, body, createdBy });
    return { taskId: t.taskId, status: t.status };
  }

  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('onRequest', operatorAuth(deps.operatorKey));

    app.get(
      '/v1/appliances',
      { schema: { tags: ['appliances'], summary: 'List appliances (filter by customer, region, status, version)', querystring: ListAppliancesQuery, security, response: { 200: Page(Appliance), ...errors } } },
      async (req) => {
        const q = req.query;
        let filter = q.status ? statusFilter(q.status) : undefined;
        if (q.version) {
          filter = filter
            ? { expression: `${filter.expression} AND #ver = :ver`, names: { ...filter.names, '#ver': 'version' }, values: { ...filter.values, ':ver': q.version } }
            : { expression: '#ver = :ver', names: { '#ver': 'version' }, values: { ':ver': q.version } };
        }
        const page = await ctx.store.listAppliances({
          customerId: q.customerId,
          region: q.region,
          filter,
          limit: q.limit ?? PAGE_LIMIT_DEFAULT,
          start: decodePageToken(q.nextToken, ['applianceId', 'customerId', 'region']),
        });
        const nextToken = encodePageToken(page.next);
        return { items: page.items.map((a) => applianceView(a)), ...(nextToken ? { nextToken } : {}) };
      },
    );

    app.get(
      '/v1/appliances/:id',
      { schema: { tags: ['appliances'], summary: 'One appliance, with its current task', params: IdParams, security, response: { 200: Appliance, ...errors } } },
      async (req) => {
        const a = await appliance(req.params.id);
        const recent = await ctx.store.tasksOfAppliance(a.applianceId, 20);
        return applianceView(a, recent.items.find((t) => !isTerminal(t.status)));
      },
    );

    app.get(
      '/v1/appliances/:id/tasks',
      {
        schema: {
          tags: ['appliances'],
          summary: "An appliance's tasks, newest first (heartbeat tasks are not listed)",
          params: IdParams,
          querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: TASK_PAGE_DEFAULT })), nextToken: Type.Optional(Type.String({ maxLength: 2048 })) }, { additionalProperties: false }),
          security,
          response: { 200: Page(TaskView), ...errors },
        },
      },
      async (req) => {
        const a = await appliance(req.params.id);
        const q = req.query;
        const page = await ctx.store.tasksOfAppliance(a.applianceId, q.limit ?? TASK_PAGE_DEFAULT, decodePageToken(q.nextToken, ['taskId', 'applianceId', 'createdAt']));
        const nextToken = encodePageToken(page.next);
        return { items: page.items.map(taskView), ...(nextToken ? { nextToken } : {}) };
      },
    );

    app.get(
      '/v1/tasks/:taskId',
      { schema: { tags: ['appliances'], summary: 'One task with its timeline', params: Type.Object({ taskId: Id }, { additionalProperties: false }), security, response: { 200: TaskView, ...errors } } },
      async (req) => {
        const t = await ctx.store.tasks.get(req.params.taskId, false);
        if (!t) throw notFound('no such task');
        return taskView(t);
      },
    );

    app.delete(
      '/v1/appliances/:id',
      {
        schema: {
          tags: ['appliances'],
          summary: 'Decommission an appliance: its credentials stop working on HTTP and MQTT at once, its unfinished tasks are cancelled',
          params: IdParams,
          security,
          response: { 204: Type.Null(), ...errors },
        },
      },
      async (req, reply) => {
        const { id } = req.params;
        if (!(await deps.appliances.decommission(id, 'operator'))) throw notFound(`no appliance ${id}`);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/v1/appliances/:id/tasks',
      { schema: { tags: ['appliances'], summary: 'Send a heartbeat, collectLogs or reboot task', params: IdParams, body: CreateTaskRequest, security, response: created } },
      async (req, reply) => {
        const a = await appliance(req.params.id);
        const body = req.body;
        return reply.code(202).send(await send(a.applianceId, body.taskType, body.body ?? {}, 'operator'));
      },
    );

    app.post(
      '/v1/appliances/:id/upgrade',
      { schema: { tags: ['appliances'], summary: 'Upgrade one appliance to a release', params: IdParams, body: UpgradeRequest, security, response: created } },
      async (req, reply) => {
        const a = await appliance(req.params.id);
        const body = req.body;
        if (body.allowDowngrade && !body.downgradeReason) throw new DomainError('downgrade_reason_required', 'allowDowngrade needs a downgradeReason: a downgrade below the committed version is an operator decision, recorded with its reason');
        const release = await ctx.store.releases.get(body.releaseId, false);
        if (!release) throw notFound(`no release ${body.releaseId}`);
        const mode: StartUpgradeOptions['mode'] = body.mode ?? 'install-reboot';
        const t = await deps.appliances.startUpgrade(a.applianceId, release, {
          mode,
          createdBy: 'operator',
          notBefore: body.notBefore,
          allowDowngrade: body.allowDowngrade,
          ...(body.allowDowngrade ? { downgradeNote: `downgrade allowed by the operator (from ${a.version} to ${release.version}): ${body.downgradeReason}` } : {}),
        });
        return reply.code(202).send({ taskId: t.taskId, status: t.status });
      },
    );

    app.post(
      '/v1/appliances/:id/rollback',
      { schema: { tags: ['appliances'], summary: 'Roll one appliance back to its other slot', params: IdParams, body: Type.Optional(RollbackRequest), security, response: created } },
      async (req, reply) => {
        const a = await appliance(req.params.id);
        const reboot = req.body?.reboot ?? true;
        return reply.code(202).send(await send(a.applianceId, 'rollback', { reboot }, 'operator'));
      },
    );

    app.post(
      '/v1/appliances/:id/services',
      { schema: { tags: ['appliances'], summary: 'Record a service the appliance should run and install it now', params: IdParams, body: DesiredService, security, response: created } },
      async (req, reply) => {
        const a = await appliance(req.params.id);
        const s = req.body;
        await ctx.store.appliances.mutate(a.applianceId, (cur) => ({ ...cur, desiredServices: { ...(cur.desiredServices ?? {}), [s.serviceCode]: s } }));
        return reply.code(202).send(await send(a.applianceId, 'installService', { ...s }, 'operator'));
      },
    );

    app.delete(
      '/v1/appliances/:id/services/:name',
      {
        schema: { tags: ['appliances'], summary: 'Forget a service and uninstall it', params: Type.Object({ id: Id, name: ServiceCode }, { additionalProperties: false }), security, response: created },
      },
      async (req, reply) => {
        const { id, name } = req.params;
        const a = await appliance(id);
        if (!a.desiredServices?.[name]) throw notFound(`service ${name} is not recorded for this appliance`);
        await ctx.store.appliances.mutate(a.applianceId, (cur) => {
          if (!cur.desiredServices?.[name]) return null;
          const rest = { ...cur.desiredServices };
          delete rest[name];
          return { ...cur, desiredServices: rest };
        });
        return reply.code(202).send(await send(a.applianceId, 'uninstallService', { serviceCode: name }, 'operator'));
      },
    );
  };
}

