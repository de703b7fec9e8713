/**
 * EKS stand-in for the two calls `doctor` makes, which moto 5.2.1 does not model (its
 * clusters have no `accessConfig` and it has no access entries): DescribeCluster and
 * DescribeAccessEntry, on EKS's REST paths (`GET /clusters/{name}`, `GET
 * /clusters/{name}/access-entries/{principalArn}`, as in @aws-sdk/client-eks).
 *
 * Behaviour as EKS documents it (EKS user guide "Grant IAM users access to Kubernetes with
 * EKS access entries" and the UpdateAccessConfig API reference): the authentication mode is
 * CONFIG_MAP, API_AND_CONFIG_MAP or API; access-entry calls are refused while the mode is
 * CONFIG_MAP (InvalidRequestException); an unknown cluster or entry is
 * ResourceNotFoundException. Messages are paraphrased, not copied.
 */
import { json, restJsonError, startStubServer, type StubServer } from './http.ts';

export type AuthenticationMode = 'CONFIG_MAP' | 'API_AND_CONFIG_MAP' | 'API';

export interface StubCluster {
  name: string;
  endpoint: string;
  /** base64 PEM of the cluster CA, as DescribeCluster returns it. */
  caData: string;
  authenticationMode: AuthenticationMode;
}

export interface StubAccessEntry {
  principalArn: string;
  kubernetesGroups: string[];
  /** Default for an IAM role: `arn:aws:sts::ACCOUNT:assumed-role/ROLE/{{SessionName}}`. */
  username?: string;
  type?: 'STANDARD' | 'EC2_LINUX' | 'EC2_WINDOWS' | 'FARGATE_LINUX' | 'HYBRID_LINUX';
}

export class EksStub {
  readonly clusters = new Map<string, StubCluster>();
  /** Key: `${cluster} ${principalArn}`. */
  readonly accessEntries = new Map<string, StubAccessEntry>();
  private server: StubServer | undefined;

  constructor(
    readonly region = 'eu-central-1',
    readonly account = '123456789012',
  ) {}

  get endpoint(): string {
    if (!this.server) throw new Error('EksStub not started');
    return this.server.endpoint;
  }

  addCluster(c: StubCluster): this {
    this.clusters.set(c.name, c);
    return this;
  }

  addAccessEntry(cluster: string, e: StubAccessEntry): this {
    this.accessEntries.set(`${cluster} ${e.principalArn}`, e);
    return this;
  }

  async start(): Promise<this> {
    this.server = await startStubServer((req) => {
      if (req.method !== 'GET')
        return restJsonError(404, 'ResourceNotFoundException', `no route for ${req.method} ${req.path}`);
      const m = /^\/clusters\/([^/]+)(?:\/access-entries\/([^/]+))?$/.exec(req.path);
      if (!m) return restJsonError(404, 'ResourceNotFoundException', `no route for ${req.path}`);
      const name = decodeURIComponent(m[1]!);
      const cluster = this.clusters.get(name);
      if (!cluster) return restJsonError(404, 'ResourceNotFoundException', `No cluster found for name: ${name}.`);
      if (m[2] === undefined) {
        return json(200, {
          cluster: {
            name,
            arn: `arn:aws:eks:${this.region}:${this.account}:cluster/${name}`,
            status: 'ACTIVE',
            version: '1.31',
            endpoint: cluster.endpoint,
            certificateAuthority: { data: cluster.caData },
            accessConfig: {
              authenticationMode: cluster.authenticationMode,
              bootstrapClusterCreatorAdminPermissions: true,
            },
          },
        });
      }
      if (cluster.authenticationMode === 'CONFIG_MAP') {
        return restJsonError(
          400,
          'InvalidRequestException',
          `The authentication mode of cluster ${name} must be API or API_AND_CONFIG_MAP for access entries.`,
        );
      }
      const principalArn = decodeURIComponent(m[2]);
      const entry = this.accessEntries.get(`${name} ${principalArn}`);
      if (!entry)
        return restJsonError(
          404,
          'ResourceNotFoundException',
          `The access entry for ${principalArn} in cluster ${name} does not exist.`,
        );
      const roleName = /:role\/(?:.*\/)?([^/]+)$/.exec(principalArn)?.[1];
      return json(200, {
        accessEntry: {
          clusterName: name,
          principalArn,
          kubernetesGroups: entry.kubernetesGroups,
          accessEntryArn: `arn:aws:eks:${this.region}:${this.account}:access-entry/${name}/role/${this.account}/${roleName ?? 'principal'}/0000`,
          username:
            entry.username ??
            (roleName ? `arn:aws:sts::${this.account}:assumed-role/${roleName}/{{SessionName}}` : principalArn),
          type: entry.type ?? 'STANDARD',
        },
      });
    });
    return this;
  }

  async close(): Promise<void> {
    await this.server?.close();
  }
}
