/**
 * zod, as the function's code uses it: its light entry point `zod/mini` (the same validators
 * and messages as `zod`, as functions instead of methods, so a bundle carries and evaluates
 * only what it uses) with the English messages `zod` registers by itself. The function's
 * startup chunk evaluates this instead of zod's whole API (README, figures: cold-start).
 */
import { config } from 'zod/mini';
import { en } from 'zod/locales';

config(en());

export * from 'zod/mini';
