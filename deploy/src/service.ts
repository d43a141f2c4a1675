import { Duration, Stack } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import { Vpc } from 'aws-cdk-lib/aws-ec2';
import { Cluster, ContainerImage, LogDrivers, Secret as EcsSecret } from 'aws-cdk-lib/aws-ecs';
import { ApplicationLoadBalancedFargateService } from 'aws-cdk-lib/aws-ecs-patterns';
import { ApplicationProtocol, SslPolicy } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { BACKEND_ACTIONS } from './backend-permissions.js';

export interface BackendServiceProps {
  image: ContainerImage;
  tables: ITable[];
  tablePrefix: string;
  bucket: IBucket;
  iotPolicyName: string;
  /** ACM certificate of the HTTPS listener (the backend's public name). */
  certificateArn: string;
  /** https://… as appliances and operators reach the load balancer. */
  publicUrl: string;
  /** Secrets Manager secret (JSON: operatorKey, registerTokenKeyPem, releasePublicKeyPem) every instance shares. */
  secretArn: string;
  desiredCount: number;
}

/**
 * The backend as a container service: Fargate tasks behind an HTTPS load balancer, the same
 * image and configuration on every task, keys from one secret (never one instance's disk), and a
 * task role that may call exactly the actions the code calls (BACKEND_ACTIONS).
 */
export class BackendService extends Construct {
  readonly service: ApplicationLoadBalancedFargateService;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: BackendServiceProps) {
    super(scope, id);
    const { region, account } = Stack.of(this);
    const vpc = new Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 });
    const cluster = new Cluster(this, 'Cluster', { vpc });
    this.logGroup = new LogGroup(this, 'Logs', { retention: RetentionDays.ONE_MONTH });
    const secret = Secret.fromSecretCompleteArn(this, 'Keys', props.secretArn);
    this.service = new ApplicationLoadBalancedFargateService(this, 'Backend', {
      cluster,
      desiredCount: props.desiredCount,
      cpu: 1024,
      memoryLimitMiB: 2048,
      publicLoadBalancer: true,
      protocol: ApplicationProtocol.HTTPS,
      sslPolicy: SslPolicy.RECOMMENDED_TLS,
      redirectHTTP: true,
      certificate: Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn),
      circuitBreaker: { rollback: true },
      minHealthyPercent: 50,
      taskImageOptions: {
        image: props.image,
        containerPort: 8080,
        logDriver: LogDrivers.awsLogs({ streamPrefix: 'backend', logGroup: this.logGroup }),
        environment: {
          TWINROOT_HTTP_HOST: '0.0.0.0',
          TWINROOT_HTTP_PORT: '8080',
          // The load balancer is the client's peer: trust its X-Forwarded-For.
          TWINROOT_HTTP_TRUST_PROXY: 'true',
          TWINROOT_PUBLIC_URL: props.publicUrl,
          TWINROOT_DYNAMODB_ENDPOINT: 'aws',
          TWINROOT_DYNAMODB_REGION: region,
          TWINROOT_DYNAMODB_TABLE_PREFIX: props.tablePrefix,
          TWINROOT_ARTIFACT_STORE: `s3://${props.bucket.bucketName}`,
          TWINROOT_ARTIFACT_S3_REGION: region,
          TWINROOT_MQTT_URL: 'aws-iot',
          TWINROOT_AWS_IOT_REGION: region,
          TWINROOT_AWS_IOT_POLICY_NAME: props.iotPolicyName,
          TWINROOT_LOG_LEVEL: 'info',
          // Refuses to start without the shared keys (see backend config "mode").
          TWINROOT_MODE: 'production',
        },
        secrets: {
          TWINROOT_OPERATOR_KEY: EcsSecret.fromSecretsManager(secret, 'operatorKey'),
          // Written to files in the container by deploy/docker-entrypoint.sh.
          TWINROOT_REGISTER_TOKEN_KEY_PEM: EcsSecret.fromSecretsManager(secret, 'registerTokenKeyPem'),
          TWINROOT_RELEASE_PUBLIC_KEY_PEM: EcsSecret.fromSecretsManager(secret, 'releasePublicKeyPem'),
        },
      },
    });
    this.service.targetGroup.configureHealthCheck({ path: '/healthz', healthyHttpCodes: '200', interval: Duration.seconds(15) });
    // Uploads of large releases take long; the balancer must not cut them at its 60 s default.
    this.service.loadBalancer.setAttribute('idle_timeout.timeout_seconds', '600');

    const role = this.service.taskDefinition.taskRole;
    const tableArns = props.tables.flatMap((t) => [t.tableArn, `${t.tableArn}/index/*`]);
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'Tables', effect: Effect.ALLOW, actions: BACKEND_ACTIONS.dynamodb.filter((a) => a !== 'dynamodb:ListTables'), resources: tableArns }));
    // ListTables has no resource-level permission.
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'ListTables', effect: Effect.ALLOW, actions: ['dynamodb:ListTables'], resources: ['*'] }));
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'ArtifactObjects', effect: Effect.ALLOW, actions: BACKEND_ACTIONS.s3.filter((a) => a !== 's3:ListBucket'), resources: [props.bucket.arnForObjects('*')] }));
    // ListBucket lets a missing key answer 404 instead of 403.
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'ArtifactBucket', effect: Effect.ALLOW, actions: ['s3:ListBucket'], resources: [props.bucket.bucketArn] }));
    const iot = (r: string) => `arn:aws:iot:${region}:${account}:${r}`;
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'ApplianceIdentities',
        effect: Effect.ALLOW,
        actions: BACKEND_ACTIONS.iotControl.filter((a) => a !== 'iot:DescribeEndpoint' && a !== 'iot:CreateCertificateFromCsr'),
        resources: [iot('thing/*'), iot('cert/*'), iot(`policy/${props.iotPolicyName}`)],
      }),
    );
    // Neither has resource-level permissions.
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'IssueCertificates', effect: Effect.ALLOW, actions: ['iot:CreateCertificateFromCsr', 'iot:DescribeEndpoint'], resources: ['*'] }));
    role.addToPrincipalPolicy(new PolicyStatement({ sid: 'PublishTasks', effect: Effect.ALLOW, actions: [...BACKEND_ACTIONS.iotData], resources: [iot('topic/twinroot/appliances/*/tasks')] }));
  }
}
