/**
 * `npm run chaos [-- --json] [class…]` — the chaos suite: hung dependencies, processes killed
 * at each step of a reconcile and between an interrupted attempt's audit and its mark, a slow
 * Recover against the shortest allowed lease, hostile events, a hostile Kubernetes API and
 * kubeconfig, special files for the CLI, `doctor` and `rehearse` against hanging API servers
 * and special CA files. Every reconcile case asserts an outcome within the budget, an audit
 * record, no second Recover and no secret in any output (chaos/harness.ts); every operator
 * case an end within the command's deadline, naming what did not answer.
 *
 * With --json: one line per class, {"class","cases","held","failed","failures"}. Exits 1 when
 * a case failed. Needs moto (as `npm test` does); run by `.ci/run` after `npm test`. Grow it
 * whenever a new failure mode is found: a case per failure, in the class of its dependency.
 */
import { buildAll } from '../scripts/build.mjs';
import { findMotoPython, MOTO_INSTALL_HINT, startMoto } from '../testing/moto-server.ts';
import { AwsProxy, REGION, type ClassResult, type Env } from './harness.ts';
import { cliSpecialFilesClass } from './classes/cli-special-files.ts';
import { clockSkewClass } from './classes/clock-skew.ts';
import { coordinatorAfterAttestationClass } from './classes/coordinator-after-attestation.ts';
import { hostileEventsClass } from './classes/hostile-events.ts';
import { hostileKubeconfigClass } from './classes/hostile-kubeconfig.ts';
import { hostileKubernetesClass } from './classes/hostile-kubernetes.ts';
import {
  coordinatorClass,
  dynamodbClass,
  eventBridgeClass,
  kmsClass,
  kubernetesClass,
  secretsManagerClass,
} from './classes/hung.ts';
import { killedProcessClass } from './classes/killed.ts';
import { killedDuringAuditClass } from './classes/killed-during-audit.ts';
import { operatorHangsClass } from './classes/operator-hangs.ts';
import { slowRecoverClass } from './classes/slow-recover.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const CLASSES: Record<string, (env: Env) => Promise<ClassResult>> = {
  'hung-kms': kmsClass,
  'hung-secrets-manager': secretsManagerClass,
  'hung-dynamodb': dynamodbClass,
  'hung-eventbridge': eventBridgeClass,
  'hung-coordinator': coordinatorClass,
  'hung-kubernetes-api': kubernetesClass,
  'killed-process': killedProcessClass,
  'killed-during-audit': killedDuringAuditClass,
  'slow-recover': slowRecoverClass,
  'hostile-events': hostileEventsClass,
  'hostile-kubernetes-api': hostileKubernetesClass,
  'hostile-kubeconfig': hostileKubeconfigClass,
  'cli-special-files': cliSpecialFilesClass,
  'coordinator-after-attestation': coordinatorAfterAttestationClass,
  'clock-skew': clockSkewClass,
  'operator-hangs': operatorHangsClass,
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const wanted = args.filter((a) => !a.startsWith('--'));
const unknown = wanted.filter((w) => !(w in CLASSES));
if (unknown.length) {
  process.stderr.write(`unknown chaos class(es): ${unknown.join(', ')}; known: ${Object.keys(CLASSES).join(', ')}\n`);
  process.exit(2);
}
const selected = wanted.length ? wanted : Object.keys(CLASSES);
const write = process.stdout.write.bind(process.stdout);

function emit(r: ClassResult, ms: number): void {
  if (json) {
    write(
      `${JSON.stringify({ class: r.class, cases: r.cases, held: r.held, failed: r.failed, failures: r.failures })}\n`,
    );
    return;
  }
  write(`${r.failed ? '✘' : '✔'} ${r.class.padEnd(22)} ${r.held}/${r.cases} held (${(ms / 1000).toFixed(1)} s)\n`);
  for (const f of r.failures) write(`    ✘ ${f.case}\n${f.problems.map((p) => `        - ${p}\n`).join('')}`);
}

const python = findMotoPython();
if (!python) {
  process.stderr.write(`chaos: moto is not installed; ${MOTO_INSTALL_HINT}\n`);
  process.exit(1);
}
if (selected.includes('cli-special-files') || selected.includes('killed-process')) await buildAll({ quiet: true });
const moto = await startMoto(python);
const proxy = await new AwsProxy(moto.endpoint).start();
// The handler builds its own AWS clients, as in production: all of them talk to the proxy.
Object.assign(process.env, {
  AWS_ENDPOINT_URL: proxy.url,
  AWS_REGION: REGION,
  AWS_ACCESS_KEY_ID: 'chaos',
  AWS_SECRET_ACCESS_KEY: 'chaos',
});
const env: Env = { moto: moto.endpoint, proxy };

let failed = 0;
try {
  for (const name of selected) {
    const t0 = Date.now();
    let r: ClassResult;
    try {
      r = await CLASSES[name]!(env);
    } catch (err) {
      r = {
        class: name,
        cases: 1,
        held: 0,
        failed: 1,
        failures: [{ case: '(class setup)', problems: [(err as Error).stack ?? String(err)] }],
      };
    }
    failed += r.failed;
    emit(r, Date.now() - t0);
  }
} finally {
  await proxy.stop();
  await moto.stop();
}
// Abandoned hung calls may hold sockets open; the verdict is in.
process.exit(failed ? 1 : 0);
