import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import type { Construct } from 'constructs';
import { BackendAlarms } from './alarms.js';
import { TwinrootIotPolicy } from './iot.js';
import { BackendService } from './service.js';
import { TwinrootStorage } from './storage.js';
import { TwinrootTables } from './tables.js';

export interface TwinrootStackProps extends StackProps {
  image: ContainerImage;
  certificateArn: string;
  publicUrl: string;
  secretArn: string;
  /** Backend tasks behind the load balancer (at least 2: one may be replaced while the other serves). */
  desiredCount?: number;
  tablePrefix?: string;
  iotPolicyName?: string;
  logBundleDays?: number;
}

/** The twinroot backend on AWS: tables, artifact bucket, the appliances' IoT policy, the service and its alarms. */
export class TwinrootStack extends Stack {
  constructor(scope: Construct, id: string, props: TwinrootStackProps) {
    super(scope, id, props);
    const desiredCount = props.desiredCount ?? 2;
    if (desiredCount < 2) throw new Error(`desiredCount must be at least 2 (got ${desiredCount}): one task is replaced while the other serves`);
    const tablePrefix = props.tablePrefix ?? 'twinroot-';
    const iotPolicyName = props.iotPolicyName ?? 'twinroot-appliance';
    const tables = new TwinrootTables(this, 'Tables', { prefix: tablePrefix });
    const storage = new TwinrootStorage(this, 'Storage', { logBundleDays: props.logBundleDays ?? 30 });
    new TwinrootIotPolicy(this, 'Iot', { policyName: iotPolicyName });
    const backend = new BackendService(this, 'Service', {
      image: props.image,
      tables: Object.values(tables.tables),
      tablePrefix,
      bucket: storage.bucket,
      iotPolicyName,
      certificateArn: props.certificateArn,
      publicUrl: props.publicUrl,
      secretArn: props.secretArn,
      desiredCount,
    });
    new BackendAlarms(this, 'Alarms', { logGroup: backend.logGroup, service: backend.service });
    new CfnOutput(this, 'LoadBalancerDns', { value: backend.service.loadBalancer.loadBalancerDnsName, description: 'point the public name (publicUrl) at this' });
    new CfnOutput(this, 'ArtifactBucket', { value: storage.bucket.bucketName });
  }
}
