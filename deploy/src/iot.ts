import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { CfnPolicy } from 'aws-cdk-lib/aws-iot';
import { Construct } from 'constructs';

const require = createRequire(import.meta.url);
/** The policy document every appliance certificate gets, as the backend's repository keeps it. */
export function appliancePolicyDocument(): Record<string, unknown> {
  return JSON.parse(readFileSync(require.resolve('@twinroot/backend/aws/iot-policy.json'), 'utf8')) as Record<string, unknown>;
}

/** The one IoT policy (backend/aws/iot-policy.json) the backend attaches to every appliance certificate. */
export class TwinrootIotPolicy extends Construct {
  readonly policyName: string;

  constructor(scope: Construct, id: string, props: { policyName: string }) {
    super(scope, id);
    new CfnPolicy(this, 'AppliancePolicy', { policyName: props.policyName, policyDocument: appliancePolicyDocument() });
    this.policyName = props.policyName;
  }
}
