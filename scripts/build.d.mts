/** Types of scripts/build.mjs (a plain ESM script, so `npm ci` can run it before anything is compiled). */
export declare const ENTRIES: Record<string, string>;
export declare const TARGETS: readonly string[];
export declare function buildAll(options?: {
  outdir?: string;
  quiet?: boolean;
  targets?: readonly string[];
}): Promise<void>;
