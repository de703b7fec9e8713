/**
 * The function's entry point (the CDK construct bundles this file). The front door lives in
 * lambda/function/, the reconcile core in lambda/reconcile/ (docs/architecture.md).
 */
export { handler } from './function/handler.ts';
