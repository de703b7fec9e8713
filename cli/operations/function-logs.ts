/** The function's log reader, shared with the scheduled audit (lambda/audit/function-logs.ts). */
export * from '../../lambda/audit/function-logs.ts';
