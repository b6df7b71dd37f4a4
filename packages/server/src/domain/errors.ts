/**
 * Typed domain errors. Each carries a `code` from the closed set declared in openapi.yaml; the
 * server's one `onError` maps them to `{code, message, details}` and the HTTP status below.
 * Messages give context, then cause, then what to change.
 */
export type ErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'not_found'
  | 'conflict'
  | 'invalid_state'
  | 'already_exists'
  | 'ambiguous'
  | 'payload_too_large'
  | 'not_supported'
  | 'internal_error';

export const statusOf: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  conflict: 409,
  invalid_state: 409,
  already_exists: 409,
  ambiguous: 409,
  payload_too_large: 413,
  not_supported: 501,
  internal_error: 500,
};

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidRequestError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid_request', message, details);
  }
}

export class NotFoundError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('not_found', message, details);
  }
}

export class ConflictError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('conflict', message, details);
  }
}

export class InvalidStateError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid_state', message, details);
  }
}

export class AlreadyExistsError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('already_exists', message, details);
  }
}

export class AmbiguousError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('ambiguous', message, details);
  }
}

export class NotSupportedError extends DomainError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('not_supported', message, details);
  }
}
