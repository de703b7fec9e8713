/** Types of infra/function-bundle.mjs (plain JavaScript, shared with scripts/build.mjs). */
import type { BuildOptions } from 'esbuild';

export declare const HANDLER: string;
export declare const FUNCTION_ENTRY: string;
export declare const AUDIT_FUNCTION_ENTRY: string;
export declare function functionBundleOptions(o: { entry: string; outdir: string; projectRoot: string }): BuildOptions;
