/**
 * Bundles the function once before the test files start, so the infra files (each its own
 * process) find it in the content-addressed cache instead of each bundling it again.
 */
import { bundleFromSource } from '../../infra/function-code.ts';

export default function setup(): void {
  bundleFromSource();
}
