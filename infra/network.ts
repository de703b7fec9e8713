/**
 * Network for the recovery function: private subnets without any internet route, one
 * interface endpoint per AWS API the function calls (each with an endpoint policy that admits
 * only the function's role and only the calls it makes), and security groups that open
 * exactly the paths the function needs.
 */
import { Fn, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

export interface RecoveryVpcProps {
  /** Availability zones for a created VPC (default: two of the region's zones). */
  readonly availabilityZones?: string[];
  /** CIDR of a created VPC. @default 10.80.0.0/20 */
  readonly cidr?: string;
  readonly logRetention: logs.RetentionDays;
  readonly logKey: kms.IKey;
}

/**
 * A VPC with isolated subnets only: no internet gateway, no NAT gateway, no route to
 * 0.0.0.0/0. Flow logs go to an encrypted, retained log group.
 */
export function createIsolatedVpc(scope: Construct, id: string, props: RecoveryVpcProps): ec2.Vpc {
  const flowLogGroup = new logs.LogGroup(scope, `${id}FlowLogs`, {
    retention: props.logRetention,
    encryptionKey: props.logKey,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const vpc = new ec2.Vpc(scope, id, {
    ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.80.0.0/20'),
    ...(props.availabilityZones ? { availabilityZones: props.availabilityZones } : { maxAzs: 2 }),
    natGateways: 0,
    createInternetGateway: false,
    subnetConfiguration: [{ name: 'recovery', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
    enableDnsHostnames: true, // required for private DNS of interface endpoints
    enableDnsSupport: true,
    restrictDefaultSecurityGroup: false, // nothing uses it; avoids a custom-resource Lambda
    flowLogs: {
      all: { destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup), trafficType: ec2.FlowLogTrafficType.ALL },
    },
  });
  return vpc;
}

/** One AWS API endpoint: the service and the statement its endpoint policy allows. */
export interface ServiceEndpointSpec {
  readonly id: string;
  readonly service: ec2.IInterfaceVpcEndpointService;
  readonly actions: string[];
  readonly resources: string[];
  readonly conditions?: Record<string, Record<string, unknown>>;
  /** Private DNS (default true). */
  readonly privateDns?: boolean;
}

/**
 * Interface endpoints sharing one security group that admits HTTPS from `client` only.
 * Endpoint policies allow only `principalArn` (the function's role) to make the listed calls.
 */
export function createServiceEndpoints(
  scope: Construct,
  vpc: ec2.IVpc,
  subnets: ec2.SubnetSelection,
  client: ec2.ISecurityGroup,
  principalArn: string,
  specs: ServiceEndpointSpec[],
): { securityGroup: ec2.SecurityGroup; endpoints: Record<string, ec2.InterfaceVpcEndpoint> } {
  const securityGroup = new ec2.SecurityGroup(scope, 'EndpointSecurityGroup', {
    vpc,
    description: 'contrast-autorecover: AWS API interface endpoints (HTTPS from the recovery function only)',
    allowAllOutbound: false,
  });
  securityGroup.addIngressRule(client, ec2.Port.tcp(443), 'HTTPS from the recovery function');
  client.addEgressRule(securityGroup, ec2.Port.tcp(443), 'HTTPS to the AWS API interface endpoints');

  const endpoints: Record<string, ec2.InterfaceVpcEndpoint> = {};
  for (const spec of specs) {
    const endpoint = new ec2.InterfaceVpcEndpoint(scope, `${spec.id}Endpoint`, {
      vpc,
      service: spec.service,
      subnets,
      privateDnsEnabled: spec.privateDns ?? true,
      securityGroups: [securityGroup],
      open: false,
    });
    endpoint.addToPolicy(
      new iam.PolicyStatement({
        sid: `OnlyTheRecoveryFunction${spec.id}`,
        principals: [new iam.AnyPrincipal()],
        actions: spec.actions,
        resources: spec.resources,
        conditions: {
          ...spec.conditions,
          ArnEquals: { 'aws:PrincipalArn': principalArn },
        },
      }),
    );
    endpoints[spec.id] = endpoint;
  }
  return { securityGroup, endpoints };
}

/** Host name of the first (regional) DNS entry of an interface endpoint. */
export function endpointHostName(endpoint: ec2.InterfaceVpcEndpoint): string {
  // DnsEntries are "<hosted zone id>:<dns name>"; the first one is the regional name.
  return Fn.select(1, Fn.split(':', Fn.select(0, endpoint.vpcEndpointDnsEntries)));
}
