/**
 * Issue #19 item 8: the result event lists every Contrast pod with its status and reason within
 * its size cap (counts per status beyond it), and the audit record keeps the whole list.
 */
import { describe, expect, it } from 'vitest';
import { restartSummary } from '../../lambda/function/report.ts';
import type { PodResult } from '../../lambda/kubernetes/types.ts';
import type { ReconcileResult } from '../../lambda/reconcile/types.ts';

function resultWith(pods: PodResult[]): ReconcileResult {
  return {
    restarts: {
      meshCaSpkiSha256: 'ab'.repeat(32),
      results: [{ kind: 'Deployment', namespace: 'ns', name: 'web', status: 'restarted' }],
      pods,
      complete: true,
      staleWorkloads: 0,
    },
  } as unknown as ReconcileResult;
}

const pod = (i: number, status: PodResult['status']): PodResult => ({
  namespace: 'ns',
  name: `web-${i}`,
  workload: 'Deployment/web',
  status,
  reason: `reason ${i}: ${'x'.repeat(200)}`,
  ...(status === 'lost-ca' ? { action: 'restarted' as const } : {}),
});

describe('every Contrast pod in the result (issue #19 item 8)', () => {
  it('lists every pod with status and reason while it fits', () => {
    const pods = [pod(0, 'fresh'), pod(1, 'lost-ca'), pod(2, 'in-init')];
    const s = restartSummary(resultWith(pods))!;
    expect(s.pods).toEqual([pods[1], pods[0], pods[2]]);
    expect(s.podCounts).toEqual({ fresh: 1, 'lost-ca': 1, 'in-init': 1 });
    expect(s.podsTruncated).toBe(false);
  });

  it('caps the event (pods needing attention first, counts per status for all), and the audit record keeps all', () => {
    const pods = [
      ...Array.from({ length: 900 }, (_, i) => pod(i, 'fresh')),
      ...Array.from({ length: 300 }, (_, i) => pod(1000 + i, 'lost-ca')),
    ];
    const event = restartSummary(resultWith(pods))!;
    const listed = event.pods as PodResult[];
    expect(listed.length).toBeLessThan(pods.length);
    expect(listed.every((p) => p.status === 'lost-ca')).toBe(true);
    expect(event.podCounts).toEqual({ fresh: 900, 'lost-ca': 300 });
    expect(event.podsTruncated).toBe(true);
    // EventBridge takes at most 256 KB per entry; the whole detail stays well below it.
    expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThan(128 * 1024);
    const audit = restartSummary(resultWith(pods), true)!;
    expect(audit.pods).toHaveLength(pods.length);
    expect(audit.podsTruncated).toBe(false);
  });
});
