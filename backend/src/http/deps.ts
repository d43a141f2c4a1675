import type { RegisterTokens } from '../auth/register-token.js';
import type { ApplianceService } from '../services/appliances.js';
import type { ServiceContext } from '../services/context.js';
import type { TaskService } from '../services/tasks.js';
import type { RegisterTokenService } from '../services/register-tokens.js';
import type { RateLimiter } from './rate-limit.js';

/** What the route plugins are built from. */
export interface ApiDeps {
  ctx: ServiceContext;
  tasks: TaskService;
  appliances: ApplianceService;
  registerTokens: RegisterTokens;
  registerTokenService: RegisterTokenService;
  /** Registrations per register token and per source address. */
  registerRate: { perToken: RateLimiter; perAddress: RateLimiter };
  operatorKey: string;
}
