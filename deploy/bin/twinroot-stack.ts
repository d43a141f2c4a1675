// The CDK app: `npm run synth -w deploy -- -c certificateArn=… -c publicUrl=https://… -c secretArn=…`
// (offline; `cdk deploy` with the same context deploys it). The image is built from
// deploy/Dockerfile with the repository as its context.
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { ContainerImage } from 'aws-cdk-lib/aws-ecs';
import { TwinrootStack } from '../src/twinroot-stack.js';

const app = new App();
const need = (key: string): string => {
  const v = app.node.tryGetContext(key) as string | undefined;
  if (!v) throw new Error(`missing context ${key}: pass -c ${key}=… (see README "Deploying on AWS")`);
  return v;
};
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
new TwinrootStack(app, (app.node.tryGetContext('stackName') as string | undefined) ?? 'twinroot', {
  image: ContainerImage.fromAsset(repoRoot, { file: 'deploy/Dockerfile' }),
  certificateArn: need('certificateArn'),
  publicUrl: need('publicUrl'),
  secretArn: need('secretArn'),
  desiredCount: Number(app.node.tryGetContext('desiredCount') ?? 2),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
app.synth();
