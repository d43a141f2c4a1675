import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ApiError, Heartbeat, Id, isHeartbeatPing, RegisterRequest, RegisterResponse, TaskResult, TokenRefreshRequest, TokenRefreshResponse } from '@twinroot/protocol';
import { isTerminal } from '../../domain/task-record.js';
import { applianceAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { DomainError, notFound } from '../../domain/domain-error.js';

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const TaskParams = Type.Object({ taskId: Id }, { additionalProperties: false });
const bearer = [{ applianceToken: [] }];
const errors = { 400: ApiError, 401: ApiError, 403: ApiError, 404: ApiError, 429: ApiError, 503: ApiError };

/** A 429 with Retry-After when the limiter said to wait. */
function limit(waitS: number, reply: FastifyReply, what: string): void {
  if (waitS <= 0) return;
  reply.header('retry-after', String(waitS));
  throw new DomainError('rate_limited', `too many registrations from ${what}; retry in ${waitS} s`);
}

/** The device API (DESIGN.md "HTTP API"): register, token refresh, heartbeat, task result. */
export function deviceRoutes(deps: ApiDeps): FastifyPluginAsync {
  const { ctx } = deps;
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.post(
      '/v1/register',
      {
        schema: {
          tags: ['device'],
          summary: 'Register an appliance with a register token (JWT); returns its id, token, MQTT settings and, for a csr, its MQTT client certificate',
          body: RegisterRequest,
          response: { 200: RegisterResponse, ...errors },
        },
      },
      async (req, reply) => {
        const body = req.body;
        const now = ctx.clock.now();
        limit(deps.registerRate.perAddress.take(req.ip, now), reply, 'this address');
        const claims = await deps.registerTokens.verify(body.registerToken, now);
        limit(deps.registerRate.perToken.take(claims.tokenId, now), reply, 'this register token');
        if (!(await ctx.store.customers.get(claims.customerId))) throw new DomainError('register_token_invalid', 'the customer of this register token no longer exists');
        await deps.registerTokenService.check(claims);
        const replayed = await deps.appliances.replayRegistration(body, claims);
        if (replayed) return replayed;
        await deps.registerTokenService.consume(claims);
        return deps.appliances.register(body, claims);
      },
    );

    app.post(
      '/v1/appliances/:id/token',
      {
        onRequest: applianceAuth(ctx.store, ctx.clock, 'id'),
        // Agents before certificates post no body (or {}): both mean "no csr".
        preValidation: async (req) => {
          req.body ??= {};
        },
        schema: {
          tags: ['device'],
          summary: 'Replace the appliance token (the old one stops working); with a csr, also issue a new MQTT client certificate (the old one works until a heartbeat shows the new one in use)',
          params: IdParams,
          body: Type.Optional(TokenRefreshRequest),
          security: bearer,
          response: { 200: TokenRefreshResponse, ...errors },
        },
      },
      async (req) => deps.appliances.refreshToken(req.appliance!, req.body?.csr),
    );

    app.post(
      '/v1/appliances/:id/heartbeat',
      {
        onRequest: applianceAuth(ctx.store, ctx.clock, 'id'),
        schema: {
          tags: ['device'],
          summary: 'Report what the appliance runs; answers a heartbeat task when taskId is given',
          params: IdParams,
          body: Heartbeat,
          security: bearer,
          response: { 200: Type.Object({ ok: Type.Boolean(), status: Type.String(), finding: Type.String() }), ...errors },
        },
      },
      async (req) => ({ ok: true, ...(await deps.appliances.heartbeat(req.appliance!, req.body)) }),
    );

    app.post(
      '/v1/tasks/:taskId/result',
      {
        onRequest: applianceAuth(ctx.store, ctx.clock),
        schema: {
          tags: ['device'],
          summary: 'Report a task result (idempotent; stale and out-of-order results are ignored)',
          params: TaskParams,
          body: TaskResult,
          security: bearer,
          response: { 200: Type.Object({ ok: Type.Boolean(), applied: Type.Boolean(), status: Type.String(), reason: Type.Optional(Type.String()) }), ...errors },
        },
      },
      async (req) => {
        const { taskId } = req.params;
        // Agents ≤ 0.9 report results for routine pings too; nothing is stored for those.
        if (isHeartbeatPing(taskId)) return { ok: true, applied: false, status: 'not_stored', reason: 'a routine heartbeat ping is not stored: the heartbeat answers it' };
        const task = await ctx.store.tasks.get(taskId);
        if (!task) throw notFound(`no task ${taskId}`);
        if (task.ownerId !== req.appliance!.applianceId) throw new DomainError('forbidden', 'this task belongs to another appliance');
        const { outcome, task: after } = await deps.tasks.applyResult(task, req.body);
        if (after.taskType === 'upgrade' && isTerminal(after.status)) {
          await deps.appliances.upgradeEnded(after.ownerId, after.taskId);
        }
        return outcome.kind === 'ignore'
          ? { ok: true, applied: false, status: after.status, reason: outcome.reason }
          : { ok: true, applied: true, status: after.status };
      },
    );
  };
}

