/**
 * `contrast-autorecover/infra`: the CDK construct for your own app.
 *
 *   import { ContrastRecovery } from 'contrast-autorecover/infra';
 *
 * Props are checked at synth with the same parsers the function uses at run time; the names
 * both sides share (metrics, KMS context keys, events, environment) come from one module,
 * re-exported here for dashboards and tooling of your own.
 */
export { ContrastRecovery } from './contrast-recovery.ts';
export type {
  ClusterProps,
  CollateralMirrorProps,
  ContrastDeploymentProps,
  ContrastRecoveryProps,
  CoordinatorAccess,
  EksHybridNodesCluster,
  ExistingEndpoint,
  ExporterIdentityProps,
  HubVpcNetwork,
  NetworkProps,
  OwnVpcNetwork,
  SelfManagedCluster,
  ServiceEndpoints,
} from './props.ts';
export { MAX_DEPLOYMENTS_PER_STACK, PropsError } from './props.ts';
export { DeploymentParameters } from './deployment-parameters.ts';
export { IamEventForwarder } from './side-door-alarms.ts';
export { RecoveryDashboard, recoveryMetric } from './dashboard.ts';
export {
  CONTEXT_KEYS,
  DEFAULTS,
  EVENTS,
  EXPORTER_IMAGE,
  LOCK_TABLE,
  METRIC,
  METRICS_NAMESPACE,
  OWNER_KEY_PURPOSE,
  SERVICE_NAME,
  TRIGGER_DETAIL,
} from '../lambda/shared/contract.ts';
export { coordinatorNlbName, DEPLOYMENT_NAME } from '../lambda/shared/names.ts';
export { ACCEPTABLE_TDX_TCB_STATUSES, type TdxTcbStatus } from '../lambda/shared/settings.ts';
