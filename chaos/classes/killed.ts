import type { ClassResult, Env } from '../harness.ts';
export async function killedProcessClass(_env: Env): Promise<ClassResult> {
  return { class: 'killed-process', cases: 0, held: 0, failed: 0, failures: [] };
}
