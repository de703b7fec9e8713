/**
 * vitest global setup: compiles the CLI (dist/, as `npm run build` does) so the CLI tests run
 * the command users run, and starts one moto server for the whole run and hands its endpoint to
 * the tests (inject('motoEndpoint')). Without moto the AWS integration tests are skipped
 * with the install hint; with CI=true a missing moto fails the run.
 */
import type { TestProject } from 'vitest/node';
import { buildAll } from '../../scripts/build.mjs';
import { findMotoPython, MOTO_INSTALL_HINT, startMoto, type MotoServer } from '../../testing/moto-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    motoEndpoint: string;
  }
}

let server: MotoServer | undefined;

export async function setup(project: TestProject): Promise<void> {
  await buildAll({ quiet: true });
  if (process.env.MOTO_ENDPOINT) {
    project.provide('motoEndpoint', process.env.MOTO_ENDPOINT);
    return;
  }
  const python = findMotoPython();
  if (!python) {
    if (process.env.CI === 'true') {
      throw new Error(`moto is not installed and CI=true: the AWS integration tests cannot run; ${MOTO_INSTALL_HINT}`);
    }
    console.warn(`skipped: moto not installed — AWS integration tests will be skipped; ${MOTO_INSTALL_HINT}`);
    project.provide('motoEndpoint', '');
    return;
  }
  server = await startMoto(python);
  project.provide('motoEndpoint', server.endpoint);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
