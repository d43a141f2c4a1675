// A model of how AWS IoT Core evaluates an IoT policy for one request: policy variables of the
// connection substituted, IAM-style wildcards (* and ?) in resources, Bool conditions, explicit
// Deny over Allow, implicit deny otherwise. Only what twinroot's policy uses is modelled; IoT Core
// itself cannot run here, so its evaluation is replaced by this model (named in the test titles).

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string>>;
}
export interface PolicyDocument {
  Version: string;
  Statement: PolicyStatement[];
}

/** What a connection brings to the evaluation: the thing its certificate is attached to, if any. */
export interface ConnectionContext {
  thingName?: string;
  isAttached: boolean;
}

const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);

function globToRegExp(glob: string): RegExp {
  return new RegExp('^' + glob.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&'))).join('') + '$');
}

/** Policy variables: a variable the connection has no value for leaves the statement unusable (as IoT Core does). */
function substitute(resource: string, ctx: ConnectionContext): string | null {
  let unusable = false;
  const out = resource.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
    if (name === 'iot:Connection.Thing.ThingName' && ctx.thingName && ctx.isAttached) return ctx.thingName;
    unusable = true;
    return '';
  });
  return unusable ? null : out;
}

function conditionHolds(cond: PolicyStatement['Condition'], ctx: ConnectionContext): boolean {
  for (const [op, kv] of Object.entries(cond ?? {})) {
    for (const [key, want] of Object.entries(kv)) {
      if (op !== 'Bool' || key !== 'iot:Connection.Thing.IsAttached') return false; // not modelled: never assumed true
      if (String(ctx.isAttached) !== want) return false;
    }
  }
  return true;
}

function matches(s: PolicyStatement, action: string, resource: string, ctx: ConnectionContext): boolean {
  if (!list(s.Action).some((a) => globToRegExp(a).test(action))) return false;
  if (!conditionHolds(s.Condition, ctx)) return false;
  return list(s.Resource).some((r) => {
    const concrete = substitute(r, ctx);
    return concrete !== null && globToRegExp(concrete).test(resource);
  });
}

export function evaluate(policy: PolicyDocument, action: string, resource: string, ctx: ConnectionContext): 'allow' | 'deny' {
  const hits = policy.Statement.filter((s) => matches(s, action, resource, ctx));
  if (hits.some((s) => s.Effect === 'Deny')) return 'deny';
  return hits.some((s) => s.Effect === 'Allow') ? 'allow' : 'deny';
}
