import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ApiError, CreateCustomerRequest, Customer, Id, Page, PAGE_LIMIT_DEFAULT, PageLimit, RegisterTokenInfo, RegisterTokenRequest, RegisterTokenResponse, UpdateCustomerRequest } from '@twinroot/protocol';
import { iso } from '../../clock.js';
import { operatorAuth } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { decodePageToken, encodePageToken } from '../pagination.js';
import { customerView, registerTokenView } from '../views.js';
import { DomainError, notFound } from '../../domain/domain-error.js';

const IdParams = Type.Object({ id: Id }, { additionalProperties: false });
const security = [{ operatorKey: [] }];
const errors = { 400: ApiError, 401: ApiError, 404: ApiError };
export const DEFAULT_REGISTER_TOKEN_TTL_HOURS = 24 * 7;

/** A time zone name Intl knows; an unknown one would make every maintenance window wrong. */
function checkTimeZone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new DomainError('bad_time_zone', `unknown time zone ${JSON.stringify(tz)}`);
  }
}

/** Operator API: customers and their register tokens. */
export function customerRoutes(deps: ApiDeps): FastifyPluginAsync {
  const { ctx } = deps;
  return async (plain) => {
    const app = plain.withTypeProvider<TypeBoxTypeProvider>();
    app.addHook('onRequest', operatorAuth(deps.operatorKey));

    app.post(
      '/v1/customers',
      { schema: { tags: ['customers'], summary: 'Create a customer', body: CreateCustomerRequest, security, response: { 201: Type.Object({ customerId: Id }), ...errors } } },
      async (req, reply) => {
        const body = req.body;
        if (body.maintenanceWindow) checkTimeZone(body.maintenanceWindow.timeZone);
        const customerId = randomUUID();
        await ctx.store.customers.create({
          customerId,
          name: body.name,
          region: body.region,
          canary: body.canary ?? false,
          ...(body.maintenanceWindow ? { maintenanceWindow: body.maintenanceWindow } : {}),
          createdAt: iso(ctx.clock.now()),
          rev: 0,
        });
        return reply.code(201).send({ customerId });
      },
    );

    app.get(
      '/v1/customers',
      {
        schema: {
          tags: ['customers'],
          summary: 'List customers',
          querystring: Type.Object({ limit: Type.Optional(PageLimit), nextToken: Type.Optional(Type.String({ maxLength: 2048 })) }, { additionalProperties: false }),
          security,
          response: { 200: Page(Customer), ...errors },
        },
      },
      async (req) => {
        const q = req.query;
        const page = await ctx.store.listCustomers(q.limit ?? PAGE_LIMIT_DEFAULT, decodePageToken(q.nextToken, ['customerId']));
        const nextToken = encodePageToken(page.next);
        return { items: page.items.map(customerView), ...(nextToken ? { nextToken } : {}) };
      },
    );

    app.get(
      '/v1/customers/:id',
      { schema: { tags: ['customers'], summary: 'One customer', params: IdParams, security, response: { 200: Customer, ...errors } } },
      async (req) => {
        const c = await ctx.store.customers.get(req.params.id);
        if (!c) throw notFound('no such customer');
        return customerView(c);
      },
    );

    app.patch(
      '/v1/customers/:id',
      { schema: { tags: ['customers'], summary: "Change a customer's canary flag or maintenance window (null removes it)", params: IdParams, body: UpdateCustomerRequest, security, response: { 200: Customer, ...errors } } },
      async (req) => {
        const body = req.body;
        if (body.maintenanceWindow) checkTimeZone(body.maintenanceWindow.timeZone);
        const out = await ctx.store.customers.mutate(req.params.id, (cur) => {
          const next = { ...cur };
          if (body.canary !== undefined) next.canary = body.canary;
          if (body.maintenanceWindow === null) delete next.maintenanceWindow;
          else if (body.maintenanceWindow) next.maintenanceWindow = body.maintenanceWindow;
          return next;
        });
        if (!out) throw notFound('no such customer');
        return customerView(out.after);
      },
    );

    app.post(
      '/v1/customers/:id/register-tokens',
      {
        schema: {
          tags: ['customers'],
          summary: "Issue a register token (JWT) that registers appliances into this customer and region",
          params: IdParams,
          body: Type.Optional(RegisterTokenRequest),
          security,
          response: { 201: RegisterTokenResponse, ...errors },
        },
      },
      async (req, reply) => {
        const c = await ctx.store.customers.get(req.params.id);
        if (!c) throw notFound('no such customer');
        const body = req.body ?? {};
        const issued = await deps.registerTokenService.issue(c, { ttlHours: body.ttlHours ?? DEFAULT_REGISTER_TOKEN_TTL_HOURS, ...(body.maxUses ? { maxUses: body.maxUses } : {}) });
        return reply.code(201).send(issued);
      },
    );

    app.get(
      '/v1/customers/:id/register-tokens',
      { schema: { tags: ['customers'], summary: "A customer's register tokens: uses, limit, expiry, revocation (never the token itself)", params: IdParams, security, response: { 200: Type.Object({ items: Type.Array(RegisterTokenInfo) }), ...errors } } },
      async (req) => {
        const c = await ctx.store.customers.get(req.params.id);
        if (!c) throw notFound('no such customer');
        return { items: (await ctx.store.registerTokensOf(c.customerId)).map(registerTokenView) };
      },
    );

    app.delete(
      '/v1/customers/:id/register-tokens/:tokenId',
      {
        schema: {
          tags: ['customers'],
          summary: 'Revoke a register token: it registers nothing more (appliances it registered stay)',
          params: Type.Object({ id: Id, tokenId: Id }, { additionalProperties: false }),
          security,
          response: { 200: RegisterTokenInfo, ...errors },
        },
      },
      async (req) => {
        const { id, tokenId } = req.params;
        if (!(await ctx.store.customers.get(id))) throw notFound('no such customer');
        const existing = await ctx.store.registerTokens.get(tokenId);
        if (existing && existing.customerId !== id) throw notFound('no such register token for this customer');
        const rec = await deps.registerTokenService.revoke(tokenId, id);
        if (!rec) throw notFound('no such register token');
        ctx.log.warn({ customerId: id, tokenId }, 'register token revoked');
        return registerTokenView(rec);
      },
    );
  };
}
