import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData, type IMetric } from 'aws-cdk-lib/aws-cloudwatch';
import type { ApplicationLoadBalancedFargateService } from 'aws-cdk-lib/aws-ecs-patterns';
import { HttpCodeElb, HttpCodeTarget } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { FilterPattern, MetricFilter, type ILogGroup } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * The log lines the backend writes when periodic work fails (pino JSON `msg`): each becomes a
 * CloudWatch metric through a log filter, and an alarm. A test checks that the backend's code
 * still writes each of these messages.
 */
export const ALARMED_LOG_MESSAGES = {
  SweepFailures: 'sweep failed',
  SweepItemFailures: 'sweep: item failed; it stays due',
  PublishErrors: 'task: publish failed; the sweep will retry',
  RolloutPassFailures: 'rollout pass failed; the next tick retries',
} as const;

/** Alarms on what matters: failed sweeps and rollout passes, failed task publishes, 5xx answers, unhealthy tasks. */
export class BackendAlarms extends Construct {
  constructor(scope: Construct, id: string, props: { logGroup: ILogGroup; service: ApplicationLoadBalancedFargateService }) {
    super(scope, id);
    for (const [name, msg] of Object.entries(ALARMED_LOG_MESSAGES)) {
      const filter = new MetricFilter(this, `${name}Filter`, {
        logGroup: props.logGroup,
        filterPattern: FilterPattern.stringValue('$.msg', '=', msg),
        metricNamespace: 'twinroot',
        metricName: name,
        metricValue: '1',
        defaultValue: 0,
      });
      new Alarm(this, `${name}Alarm`, {
        alarmDescription: `the backend logged "${msg}"`,
        metric: filter.metric({ period: Duration.minutes(5), statistic: 'Sum' }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
    }
    const lb = props.service.loadBalancer;
    const alarm = (id: string, alarmDescription: string, metric: IMetric, threshold: number, evaluationPeriods = 1) =>
      new Alarm(this, id, { alarmDescription, metric, threshold, evaluationPeriods, treatMissingData: TreatMissingData.NOT_BREACHING });
    alarm('Target5xxAlarm', 'the backend answered 5xx', lb.metrics.httpCodeTarget(HttpCodeTarget.TARGET_5XX_COUNT, { period: Duration.minutes(5) }), 10);
    alarm('Elb5xxAlarm', 'the load balancer answered 5xx (no healthy backend task)', lb.metrics.httpCodeElb(HttpCodeElb.ELB_5XX_COUNT, { period: Duration.minutes(5) }), 10);
    alarm('UnhealthyTasksAlarm', 'fewer healthy backend tasks than running ones', props.service.targetGroup.metrics.unhealthyHostCount({ period: Duration.minutes(1) }), 1, 3);
  }
}
