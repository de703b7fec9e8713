/**
 * The deployments' configuration in Parameter Store: one String parameter per deployment,
 * `<CONTRAST_DEPLOYMENTS_PATH>/<name>`, written by the construct (infra/deployment-parameters.ts)
 * and read here once per container with GetParametersByPath. The environment keeps only the
 * path: Lambda caps all of a function's variables together at 4 KB, a parameter holds 4 KB of
 * one deployment (standard tier).
 *
 * GetParametersByPath is authorized against the path itself, not against each parameter it
 * returns (AWS Systems Manager user guide, "How Parameter Store authorizes parameter
 * retrieval"), so the function's role names exactly its own path. Not recursive: a deployment
 * is a direct child of the path. Pages hold at most 10 parameters (API reference, MaxResults).
 */
import { paginateGetParametersByPath, SSMClient } from '@aws-sdk/client-ssm';
import { ENV } from '../shared/contract.ts';
import { loadConfig, type HandlerConfig, type StoredDeployment } from './config.ts';

type Env = Record<string, string | undefined>;

/** Every parameter directly under `path`, in name order (Parameter Store's own order is unspecified). */
export async function readDeploymentParameters(ssm: SSMClient, path: string): Promise<StoredDeployment[]> {
  const out: StoredDeployment[] = [];
  for await (const page of paginateGetParametersByPath(
    { client: ssm, pageSize: 10 },
    { Path: path, Recursive: false, WithDecryption: false },
  )) {
    for (const p of page.Parameters ?? []) {
      if (p.Name !== undefined && p.Value !== undefined) out.push({ name: p.Name, value: p.Value });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The configuration, its deployments read from Parameter Store when the environment names a
 * path (the construct's stacks), else inline (loadConfig). `ssm` is made on demand.
 */
export async function loadConfigFromStore(
  env: Env = process.env,
  ssm: () => SSMClient = () => new SSMClient({}),
): Promise<HandlerConfig> {
  const path = env[ENV.deploymentsPath];
  if (!path) return loadConfig(env);
  return loadConfig(env, await readDeploymentParameters(ssm(), path));
}
