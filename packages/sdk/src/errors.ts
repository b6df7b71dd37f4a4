/**
 * Errors as exceptions, for callers who prefer `throw` to checking `error` on each result.
 */
import type { components } from './generated/schema.gen.js';

export type ErrorCode = components['schemas']['ErrorCode'];

/** An error answer of the vmkeep API, with its machine-readable `code` and HTTP `status`. */
export class VmkeepError extends Error {
  constructor(
    readonly code: ErrorCode | 'unknown',
    message: string,
    readonly status: number,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'VmkeepError';
  }
}

function isErrorBody(value: unknown): value is components['schemas']['Error'] {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { code?: unknown }).code === 'string' &&
    typeof (value as { message?: unknown }).message === 'string'
  );
}

/**
 * Turns the `error` of a failed call (and its `response`) into a {@link VmkeepError}. A body
 * that is not the API's error shape (a proxy's HTML page, say) becomes code `unknown` with the
 * HTTP status text.
 */
export function toVmkeepError(error: unknown, response: Response): VmkeepError {
  if (isErrorBody(error)) {
    return new VmkeepError(error.code, error.message, response.status, error.details);
  }
  const text = typeof error === 'string' && error ? `: ${error.slice(0, 200)}` : '';
  return new VmkeepError(
    'unknown',
    `HTTP ${response.status} ${response.statusText}${text}`,
    response.status,
  );
}
