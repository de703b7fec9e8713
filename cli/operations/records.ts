/** The function's log records, parsed where the CLI and the scheduled audit both read them (lambda/audit/records.ts). */
export * from '../../lambda/audit/records.ts';
