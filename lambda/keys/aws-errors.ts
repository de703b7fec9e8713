/** Sorting AWS SDK failures into "the request was refused" and "we could not reach AWS". */

export function awsErrorName(err: unknown): string {
  return (err as { name?: string })?.name ?? 'Error';
}

function awsHttpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** Network failures, throttling and 5xx: worth retrying later. */
export function isTransientAwsError(err: unknown): boolean {
  const name = awsErrorName(err);
  const code = (err as { code?: string })?.code;
  if (
    [
      'TimeoutError',
      'ThrottlingException',
      'RequestLimitExceeded',
      'ServiceUnavailable',
      'InternalFailure',
      'KMSInternalException',
      'InternalServiceError',
    ].includes(name)
  )
    return true;
  if (code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'].includes(code))
    return true;
  const httpStatus = awsHttpStatus(err);
  return httpStatus === undefined ? !('$fault' in (err as object)) : httpStatus >= 500 || httpStatus === 429;
}
