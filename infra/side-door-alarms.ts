/**
 * Every side door to the owner key alarms. An account administrator cannot be locked out
 * completely, but each way they could reach the owner key — change a key policy or grant,
 * disable or delete a key, change the function's code or configuration, pass its role to a
 * function of their own, change an endpoint, the secrets' policy, the kubeconfig secret (which API
 * server the function trusts; the function reads only embedded credentials from it, see
 * lambda/kubernetes/kubeconfig-fields.ts), or the trust of the function
 * or break-glass role — and every use of the break-glass role raises a notification on the
 * alarm topic, from the CloudTrail events EventBridge delivers to the default bus
 * (detail-type "AWS API Call via CloudTrail", best effort; a trail must be logging).
 *
 * Event names are CloudTrail's: Lambda's carry an API-version suffix (UpdateFunctionCode20150331v2),
 * hence prefix matches. IAM is a global service whose events reach EventBridge only in
 * us-east-1: `IamEventForwarder` (deployed there) forwards them to this region's default bus.
 * Read-only calls (Get*) reach rules only in state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
 * (EventBridge user guide, eb-service-event-cloudtrail-management).
 */
import { Arn, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import type * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export const CLOUDTRAIL_DETAIL_TYPE = 'AWS API Call via CloudTrail';

/** Role changes that alter who may assume a role. */
export const TRUST_CHANGE_EVENTS = ['UpdateAssumeRolePolicy'];

export interface SideDoorAlarmsProps {
  readonly topic: sns.ITopic;
  readonly keys: kms.IKey[];
  readonly fn: lambda.IFunction;
  readonly functionRole: iam.IRole;
  readonly breakGlassRole?: iam.IRole;
  /** `arn:…:secret:<prefix>/` and `<prefix>/`: any bundle secret, by ARN or by name. */
  readonly secretIdPrefixes: string[];
  /** The kubeconfig secret of a self-managed cluster: the function connects where it says. */
  readonly kubeconfigSecretArn?: string;
}

/**
 * Calls that change what a secret holds or who may read it (Secrets Manager API reference;
 * CloudTrail names the secret in requestParameters.secretId, as the caller gave it).
 */
export const SECRET_CHANGE_EVENTS = [
  'PutSecretValue',
  'UpdateSecret',
  'UpdateSecretVersionStage',
  'RotateSecret',
  'RestoreSecret',
  'DeleteSecret',
  'PutResourcePolicy',
  'DeleteResourcePolicy',
];

/**
 * The ways a caller can name a secret: its full ARN, the ARN without the six random characters
 * Secrets Manager appends, and its name (an unresolved ARN is matched in full only).
 */
export function secretIdsOf(arn: string): string[] {
  if (Token.isUnresolved(arn)) return [arn];
  const m = /^(arn:[^:]+:secretsmanager:[^:]*:[^:]*:secret:(.+))-[A-Za-z0-9]{6}$/.exec(arn);
  return m ? [arn, m[1]!, m[2]!] : [arn];
}

const apiCall = (source: string, eventName: unknown[], more: Record<string, unknown> = {}): events.EventPattern => ({
  source: [source],
  detailType: [CLOUDTRAIL_DETAIL_TYPE],
  detail: { eventName, ...more },
});

export class SideDoorAlarms extends Construct {
  readonly rules: Record<string, events.Rule> = {};
  /** Where a notification lands that EventBridge could not deliver to the topic after its retries (its depth is alarmed). */
  readonly deadLetterQueue: sqs.Queue;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: SideDoorAlarmsProps,
  ) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'NotificationDeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'This queue is itself the dead-letter queue of the side-door notifications; its depth is alarmed.',
    });
    const keyArns = props.keys.map((k) => k.keyArn);
    const keyIds = props.keys.map((k) => k.keyId);
    // CloudTrail names the key in resources[].ARN; requestParameters.keyId may be an id or an ARN.
    this.alarm(
      'KeyPolicyOrGrant',
      'A key policy, grant, or the state of a contrast-autorecover key changed',
      apiCall('aws.kms', ['PutKeyPolicy', 'ScheduleKeyDeletion', 'DisableKey', 'CreateGrant'], {
        $or: [{ resources: { ARN: keyArns } }, { requestParameters: { keyId: [...keyArns, ...keyIds] } }],
      }),
    );
    const name = props.fn.functionName;
    this.alarm(
      'FunctionCodeOrConfiguration',
      "The recovery function's code or configuration changed (expected during a stack deployment only)",
      apiCall('aws.lambda', [{ prefix: 'UpdateFunctionCode' }, { prefix: 'UpdateFunctionConfiguration' }], {
        requestParameters: { functionName: [name, { suffix: `:function:${name}` }] },
      }),
    );
    this.alarm(
      'FunctionRolePassed',
      "The recovery function's role was passed to a function (iam:PassRole has no event of its own; the receiving call names the role)",
      apiCall('aws.lambda', [{ prefix: 'CreateFunction' }, { prefix: 'UpdateFunctionConfiguration' }], {
        requestParameters: { role: [props.functionRole.roleArn] },
      }),
    );
    // Deliberately every endpoint of the account in this region: EC2 records the endpoint id
    // in request parameters whose shape is not documented; the call is rare and worth a look.
    this.alarm(
      'VpcEndpointModified',
      "A VPC endpoint was modified or deleted (the stack's KMS and Secrets Manager endpoints gate the owner key)",
      apiCall('aws.ec2', ['ModifyVpcEndpoint', 'DeleteVpcEndpoints']),
    );
    this.alarm(
      'SecretPolicy',
      "A bundle secret's resource policy was changed or deleted",
      apiCall('aws.secretsmanager', ['PutResourcePolicy', 'DeleteResourcePolicy'], {
        requestParameters: { secretId: props.secretIdPrefixes.map((prefix) => ({ prefix })) },
      }),
    );
    if (props.kubeconfigSecretArn) {
      // The kubeconfig decides which API server the function trusts and with which identity: a
      // changed one could point it at a server that forges peers or restarts nothing.
      const arn = props.kubeconfigSecretArn;
      this.alarm(
        'KubeconfigSecret',
        "The function's kubeconfig secret, or its policy, was changed (it names the API server and the function's Kubernetes identity)",
        apiCall('aws.secretsmanager', SECRET_CHANGE_EVENTS, {
          $or: [
            { requestParameters: { secretId: secretIdsOf(arn) } },
            { responseElements: { arn: [arn] } },
            { responseElements: { aRN: [arn] } },
          ],
        }),
      );
    }
    const watchedRoles = [props.functionRole, ...(props.breakGlassRole ? [props.breakGlassRole] : [])];
    this.alarm(
      'RoleTrust',
      'The trust policy of the function or break-glass role changed (IAM events: deploy IamEventForwarder in us-east-1)',
      apiCall('aws.iam', TRUST_CHANGE_EVENTS, { requestParameters: { roleName: watchedRoles.map((r) => r.roleName) } }),
    );
    if (props.breakGlassRole) {
      const rule = this.alarm(
        'BreakGlassUse',
        'The break-glass role read a bundle or decrypted with a contrast-autorecover key',
        {
          source: ['aws.kms', 'aws.secretsmanager'],
          detailType: [CLOUDTRAIL_DETAIL_TYPE],
          detail: {
            eventName: ['Decrypt', 'GetSecretValue'],
            userIdentity: { sessionContext: { sessionIssuer: { arn: [props.breakGlassRole.roleArn] } } },
          },
        },
      );
      (rule.node.defaultChild as events.CfnRule).state = 'ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS';
    }
  }

  /**
   * The alarm topic as a target, like every other target of the stack: retried (EventBridge
   * retries with backoff up to the attempts and age given; Amazon EventBridge User Guide,
   * "Event retry policy and using dead-letter queues"), then kept in the dead-letter queue.
   */
  private target(): targets.SnsTopic {
    return new targets.SnsTopic(this.props.topic, {
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 8,
      maxEventAge: Duration.hours(2),
    });
  }

  private alarm(id: string, description: string, eventPattern: events.EventPattern): events.Rule {
    const rule = new events.Rule(this, id, {
      description: `contrast-autorecover side door: ${description}`,
      eventPattern,
      targets: [this.target()],
    });
    this.rules[id] = rule;
    return rule;
  }
}

/**
 * Deploy in us-east-1 (a small companion stack) when the recovery stack lives elsewhere: IAM's
 * events reach EventBridge only there. Forwards trust-policy changes to the home region's
 * default bus, where SideDoorAlarms' RoleTrust rule filters for the stack's roles (so this
 * stack needs no reference to them).
 */
export class IamEventForwarder extends Construct {
  readonly rule: events.Rule;

  constructor(scope: Construct, id: string, props: { homeRegion: string; account: string }) {
    super(scope, id);
    const bus = events.EventBus.fromEventBusArn(
      this,
      'HomeDefaultBus',
      Arn.format(
        {
          service: 'events',
          region: props.homeRegion,
          account: props.account,
          resource: 'event-bus',
          resourceName: 'default',
        },
        Stack.of(this),
      ),
    );
    this.rule = new events.Rule(this, 'ForwardTrustChanges', {
      description: `contrast-autorecover: forward IAM trust-policy changes to ${props.homeRegion}`,
      eventPattern: apiCall('aws.iam', TRUST_CHANGE_EVENTS),
      targets: [new targets.EventBus(bus)],
    });
  }
}
