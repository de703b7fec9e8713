/**
 * A full recovery (restart event → Recover → restarts → report) with every output channel
 * captured: log lines and EMF metrics (stdout/stderr), trace annotations and span names,
 * every PutEvents entry, and the handler's return value. None may contain the seed, the
 * seed-share owner's private key or the KMS data key, in any encoding.
 */
import { createPrivateKey } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { KubernetesSide } from '../../lambda/kubernetes/types.ts';
import { motoAvailable, SKIP_REASON } from '../support/aws.ts';
import { findLeaks, pemNeedles, secretNeedles } from '../support/secrets.ts';
import { auditRecords, captureOutput, setupFixture, type Fixture } from './handler-fixture.ts';
import { lambdaContext, restartEvent, scheduledEvent } from './samples.ts';

let fx: Fixture | undefined;
afterEach(async () => {
  await fx?.stop();
  fx = undefined;
});

const kubernetes = async (): Promise<KubernetesSide> => ({
  peers: { readyPeers: async () => ({ readyPeers: [], coordinatorPods: ['coordinator-0'] }) },
  restarts: {
    restartStale: async (req) => ({
      meshCaSpkiSha256: req.meshCa.spkiSha256,
      staleWorkloads: 0,
      results: [{ kind: 'Deployment', namespace: 'app', name: 'web', status: 'restarted', method: 'rollout-restart' }],
      complete: true,
    }),
  },
});

describe.skipIf(!motoAvailable)(
  `no secret in any output of a full recovery ${motoAvailable ? '' : SKIP_REASON}`,
  () => {
    it('logs, metrics, traces, events and the response hold no seed, private key or data key', async () => {
      fx = await setupFixture({
        env: { DECRYPT_DRILL: 'true', DECRYPT_DRILL_RULE: 'contrast-autorecover-schedule' },
        overrides: { kubernetes },
      });
      const out = captureOutput();
      let responses: unknown[];
      try {
        responses = [await fx.handler(restartEvent(fx.deployment), lambdaContext())];
        // A scheduled run with the decrypt drill: a second Decrypt of the same data key.
        responses.push(await fx.handler(scheduledEvent(), lambdaContext()));
      } finally {
        out.restore();
      }

      // The run really did what the test claims: recovered, decrypted, restarted, drilled.
      expect(responses[0]).toMatchObject({ outcome: 'recovered' });
      expect(responses[1]).toMatchObject({ drills: [expect.objectContaining({ ok: true })] });
      expect(fx.emu.recoverCalls).toEqual([expect.objectContaining({ result: 'ok' })]);
      expect(fx.kmsDecrypts).toHaveLength(2);
      expect(auditRecords(out.json()).map((a) => a.action)).toEqual(['reconcile', 'reconcile', 'decrypt-drill']);
      expect(fx.trace.annotations.length).toBeGreaterThan(0);
      expect(fx.events.length).toBeGreaterThanOrEqual(2);

      const keyDer = createPrivateKey(fx.ws.ownerKeyPem).export({ type: 'pkcs1', format: 'der' });
      const dataKey = fx.kmsDecrypts[0]!.plaintext!;
      expect(dataKey.length).toBe(32);
      const needles = {
        seed: secretNeedles(fx.ws.seed),
        'private key (DER)': secretNeedles(keyDer),
        'private key (PEM)': pemNeedles(fx.ws.ownerKeyPem.toString('utf8')),
        'KMS data key': secretNeedles(dataKey),
      };
      // The needles are sound: they find the secrets where they are.
      expect(findLeaks(JSON.stringify({ k: Buffer.from(dataKey).toString('base64url') }), needles)).not.toHaveLength(0);
      expect(findLeaks(fx.ws.ownerKeyPem.toString('utf8'), needles)).not.toHaveLength(0);
      expect(findLeaks(JSON.stringify([...fx.ws.seed]), needles)).not.toHaveLength(0);

      const channels: Record<string, string> = {
        'stdout/stderr (logs, EMF)': out.lines.join(''),
        'trace annotations and spans': JSON.stringify(fx.trace.annotations) + JSON.stringify(fx.trace.spans),
        'result events': JSON.stringify(fx.events),
        'handler responses': JSON.stringify(responses),
      };
      for (const [channel, text] of Object.entries(channels)) {
        expect(text.length, channel).toBeGreaterThan(0);
        expect(findLeaks(text, needles), channel).toEqual([]);
      }
    });
  },
);
