/**
 * Where the function runs and every path it has. Two placements, chosen explicitly:
 *
 * - **own VPC** (created here): isolated subnets, no internet route; interface endpoints with
 *   private DNS (nobody else resolves names in this VPC); the Kubernetes API through a transit
 *   gateway attachment with routes the operator's TGW serves.
 * - **hub VPC** (the EKS cluster's VPC, or the one terminating the VPN/Direct Connect):
 *   existing endpoints are reused; missing ones are created WITHOUT private DNS — private DNS
 *   would take over the service's regional name for every workload in the VPC, and collides
 *   with endpoints that already have it (aws-secrets-manager-docs vpc-endpoint-overview.md;
 *   hashicorp/terraform-provider-aws issue 17535) — and the SDK is pointed at them through
 *   `AWS_ENDPOINT_URL_<SERVICE>` (lambda/shared/contract.ts ENDPOINT_URL_ENV).
 *
 * In both, only the five APIs the code calls get endpoints (KMS, Secrets Manager, DynamoDB,
 * EventBridge, Systems Manager for the deployments' parameters): Lambda ships logs and EMF metrics itself and the EKS token is a presigned URL,
 * so no Logs, Monitoring or STS endpoint. The Coordinator is reached through PrivateLink.
 */
import { Fn, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { DEFAULTS, ENDPOINT_URL_ENV } from '../lambda/shared/contract.ts';
import type {
  ClusterProps,
  ContrastDeploymentProps,
  ExistingEndpoint,
  NetworkProps,
  OwnVpcNetwork,
  ServiceEndpoints,
} from './props.ts';

export type ServiceName = keyof ServiceEndpoints<unknown>;

/** What the function may call through one service's endpoint (its endpoint policy). */
export interface EndpointAccess {
  readonly actions: string[];
  readonly resources: string[];
}

const SERVICES: Record<ServiceName, ec2.InterfaceVpcEndpointAwsService> = {
  kms: ec2.InterfaceVpcEndpointAwsService.KMS,
  secretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  dynamodb: ec2.InterfaceVpcEndpointAwsService.DYNAMODB,
  eventbridge: ec2.InterfaceVpcEndpointAwsService.EVENTBRIDGE,
  ssm: ec2.InterfaceVpcEndpointAwsService.SSM,
};

/** A VPC with isolated subnets only (no IGW, no NAT, no default route), flow logs on. */
export function createOwnVpc(
  scope: Construct,
  props: OwnVpcNetwork,
  logKey: kms.IKey,
  logRetention: logs.RetentionDays,
): ec2.Vpc {
  const flowLogGroup = new logs.LogGroup(scope, 'VpcFlowLogs', {
    retention: logRetention,
    encryptionKey: logKey,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.80.0.0/20'),
    ...(props.availabilityZones ? { availabilityZones: props.availabilityZones } : { maxAzs: 2 }),
    natGateways: 0,
    createInternetGateway: false,
    subnetConfiguration: [{ name: 'recovery', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 }],
    enableDnsHostnames: true, // required for private DNS of interface endpoints
    enableDnsSupport: true,
    restrictDefaultSecurityGroup: false, // nothing uses it; avoids a custom-resource Lambda
    flowLogs: {
      all: {
        destination: ec2.FlowLogDestination.toCloudWatchLogs(flowLogGroup),
        trafficType: ec2.FlowLogTrafficType.ALL,
      },
    },
  });
  const tgw = props.transitGateway;
  if (tgw) {
    const subnets = vpc.isolatedSubnets;
    const attachment = new ec2.CfnTransitGatewayAttachment(scope, 'TransitGatewayAttachment', {
      transitGatewayId: tgw.id,
      vpcId: vpc.vpcId,
      subnetIds: subnets.map((s) => s.subnetId),
    });
    subnets.forEach((subnet, i) =>
      tgw.routes.forEach((cidr, j) => {
        const route = new ec2.CfnRoute(scope, `TransitGatewayRoute${i}x${j}`, {
          routeTableId: subnet.routeTable.routeTableId,
          destinationCidrBlock: cidr,
          transitGatewayId: tgw.id,
        });
        route.addResourceDependency(attachment);
      }),
    );
  }
  return vpc;
}

export interface FunctionNetworkProps {
  readonly network: NetworkProps;
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly functionRoleArn: string;
  readonly access: Record<ServiceName, EndpointAccess>;
  readonly deployments: readonly ContrastDeploymentProps[];
  readonly cluster: ClusterProps;
  readonly collateralMirror?: { readonly peer: ec2.IPeer; readonly port: number };
}

/** The function's security group, its endpoints and every egress rule it has. */
export class FunctionNetwork extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  /** Endpoint id per service: the aws:SourceVpce the key and secret policies require. */
  readonly endpointIds = {} as Record<ServiceName, string>;
  /** `host:port` of each deployment's Coordinator endpoint. */
  readonly coordinatorAddress: Record<string, string> = {};
  /** AWS_ENDPOINT_URL_* for endpoints addressed by their own DNS name. */
  readonly environment: Record<string, string> = {};

  constructor(
    scope: Construct,
    id: string,
    private readonly props: FunctionNetworkProps,
  ) {
    super(scope, id);
    this.securityGroup = new ec2.SecurityGroup(this, 'FunctionSecurityGroup', {
      vpc: props.vpc,
      description: 'contrast-autorecover function: egress only to its endpoints, Coordinators and the cluster API',
      allowAllOutbound: false,
    });
    this.serviceEndpoints();
    this.coordinatorEndpoints();
    this.kubernetesApi();
    if (props.collateralMirror)
      this.egress(props.collateralMirror.peer, props.collateralMirror.port, 'Attestation collateral mirror');
  }

  private egress(peer: ec2.IPeer, port: number, what: string): void {
    this.securityGroup.addEgressRule(peer, ec2.Port.tcp(port), what);
  }

  private serviceEndpoints(): void {
    const { network } = this.props;
    const existing: ServiceEndpoints<ExistingEndpoint> =
      network.kind === 'hub-vpc' ? (network.existingEndpoints ?? {}) : {};
    let created: ec2.SecurityGroup | undefined;
    for (const service of Object.keys(SERVICES) as ServiceName[]) {
      const reuse = existing[service];
      if (reuse) {
        this.reuseEndpoint(service, reuse);
        continue;
      }
      created ??= this.endpointSecurityGroup();
      // Private DNS only in our own VPC, and not for DynamoDB: its interface endpoint is always
      // addressed by its own name (a gateway endpoint would need the region's prefix list).
      const privateDns = network.kind === 'own-vpc' && service !== 'dynamodb';
      const endpoint = new ec2.InterfaceVpcEndpoint(this, `${service}Endpoint`, {
        vpc: this.props.vpc,
        service: SERVICES[service],
        subnets: this.props.subnets,
        privateDnsEnabled: privateDns,
        securityGroups: [created],
        open: false,
      });
      const access = this.props.access[service];
      endpoint.addToPolicy(
        new iam.PolicyStatement({
          sid: `OnlyTheRecoveryFunction${service}`,
          principals: [new iam.AnyPrincipal()],
          actions: access.actions,
          resources: access.resources,
          conditions: { ArnEquals: { 'aws:PrincipalArn': this.props.functionRoleArn } },
        }),
      );
      this.endpointIds[service] = endpoint.vpcEndpointId;
      if (!privateDns) this.environment[ENDPOINT_URL_ENV[service]] = `https://${endpointHostName(endpoint)}`;
    }
  }

  private endpointSecurityGroup(): ec2.SecurityGroup {
    const sg = new ec2.SecurityGroup(this, 'EndpointSecurityGroup', {
      vpc: this.props.vpc,
      description: 'contrast-autorecover: AWS API interface endpoints (HTTPS from the recovery function only)',
      allowAllOutbound: false,
    });
    sg.addIngressRule(this.securityGroup, ec2.Port.tcp(443), 'HTTPS from the recovery function');
    this.egress(sg, 443, 'HTTPS to the AWS API interface endpoints');
    return sg;
  }

  private reuseEndpoint(service: ServiceName, e: ExistingEndpoint): void {
    const sg = ec2.SecurityGroup.fromSecurityGroupId(
      this,
      `${service}ExistingEndpointSecurityGroup`,
      e.securityGroupId,
      { mutable: true },
    );
    sg.addIngressRule(this.securityGroup, ec2.Port.tcp(443), 'HTTPS from the contrast-autorecover function');
    this.egress(sg, 443, `HTTPS to the existing ${service} endpoint`);
    this.endpointIds[service] = e.vpcEndpointId;
    if (e.url) this.environment[ENDPOINT_URL_ENV[service]] = e.url;
  }

  private coordinatorEndpoints(): void {
    for (const [i, d] of this.props.deployments.entries()) {
      const port = d.coordinator.port ?? DEFAULTS.coordinatorPort;
      let serviceName: string;
      if ('nlbArn' in d.coordinator) {
        const service = new ec2.VpcEndpointService(this, `CoordinatorService${i}`, {
          vpcEndpointServiceLoadBalancers: [{ loadBalancerArn: d.coordinator.nlbArn }],
          acceptanceRequired: false,
          // Only this stack's account may connect (VPC PrivateLink configure-endpoint-service).
          allowedPrincipals: [new iam.AccountRootPrincipal()],
        });
        serviceName = service.vpcEndpointServiceName;
      } else {
        serviceName = d.coordinator.endpointServiceName;
      }
      const sg = new ec2.SecurityGroup(this, `CoordinatorEndpointSecurityGroup${i}`, {
        vpc: this.props.vpc,
        description: `contrast-autorecover: PrivateLink endpoint of the Coordinator of ${d.name}`,
        allowAllOutbound: false,
      });
      sg.addIngressRule(this.securityGroup, ec2.Port.tcp(port), 'Coordinator user API from the recovery function');
      this.egress(sg, port, `Coordinator user API of ${d.name}`);
      const endpoint = new ec2.InterfaceVpcEndpoint(this, `CoordinatorEndpoint${i}`, {
        vpc: this.props.vpc,
        service: new ec2.InterfaceVpcEndpointService(serviceName, port),
        subnets: this.props.subnets,
        privateDnsEnabled: false,
        securityGroups: [sg],
        open: false,
      });
      this.coordinatorAddress[d.name] = `${endpointHostName(endpoint)}:${port}`;
    }
  }

  private kubernetesApi(): void {
    const c = this.props.cluster;
    if (c.kind === 'self-managed') {
      this.egress(
        ec2.Peer.ipv4(c.apiServerCidr),
        c.apiServerPort ?? 6443,
        'Kubernetes API server (over the private connection)',
      );
    } else if (this.props.network.kind === 'hub-vpc' && c.clusterSecurityGroupId) {
      const clusterSg = ec2.SecurityGroup.fromSecurityGroupId(this, 'ClusterSecurityGroup', c.clusterSecurityGroupId, {
        mutable: true,
        allowAllOutbound: true,
      });
      this.securityGroup.connections.allowTo(clusterSg, ec2.Port.tcp(443), 'EKS private API endpoint');
    } else {
      this.egress(ec2.Peer.ipv4(c.controlPlaneCidr!), 443, 'EKS private API endpoint');
      if (this.props.network.kind === 'own-vpc' && c.clusterSecurityGroupId) {
        // The other half of the path: the cluster security group must admit the function's VPC.
        // Across VPCs (over the transit gateway) a group cannot name ours, so the rule names our CIDR.
        const ingress = new ec2.CfnSecurityGroupIngress(this, 'ClusterSecurityGroupIngress', {
          groupId: c.clusterSecurityGroupId,
          ipProtocol: 'tcp',
          fromPort: 443,
          toPort: 443,
          cidrIp: this.props.vpc.vpcCidrBlock,
          description: 'contrast-autorecover function (own VPC, via transit gateway) to the EKS private API endpoint',
        });
        Validations.of(ingress).acknowledge({
          id: 'AwsSolutions-EC23',
          reason:
            "The source is the function's own VPC CIDR (a token at synth, so cdk-nag cannot read it), never 0.0.0.0/0.",
        });
      }
    }
  }
}

/**
 * Host name of the regional DNS entry of an interface endpoint. DnsEntries are
 * "<hosted zone id>:<dns name>"; EC2 lists the regional name first, then the zonal names.
 */
export function endpointHostName(endpoint: ec2.InterfaceVpcEndpoint): string {
  return Fn.select(1, Fn.split(':', Fn.select(0, endpoint.vpcEndpointDnsEntries)));
}
