import type { RegisterTokens } from '../auth/register-token.js';
import type { ApplianceService } from '../services/appliances.js';
import type { ServiceContext } from '../services/context.js';
import type { TaskService } from '../services/tasks.js';

/** What the route plugins are built from. */
export interface ApiDeps {
  ctx: ServiceContext;
  tasks: TaskService;
  appliances: ApplianceService;
  registerTokens: RegisterTokens;
  operatorKey: string;
}
