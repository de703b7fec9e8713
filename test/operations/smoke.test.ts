import { it } from 'vitest';
import { runDoctor } from '../../cli/doctor/run.ts';
import { formatChecklist } from '../../cli/doctor/checks.ts';
import { operatorKube } from '../../cli/doctor/kube.ts';
import { startStack } from './stack.ts';

it('smoke', async () => {
  const s = await startStack();
  try {
    const r = await runDoctor({ deployment: s.deployment, function: s.functionName, kubeGroup: 'contrast-autorecover', exporterNamespace: 'contrast-autorecover-exporter', kubeconfig: s.kubeconfigFile }, { aws: s.aws });
    console.log(formatChecklist(r.checks));
  } finally {
    await s.stop();
  }
}, 60000);
