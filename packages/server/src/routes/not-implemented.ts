/**
 * The handler of an operation whose domain service has not landed yet: it answers 501
 * `not_supported`. The only placeholder allowed; each route file replaces its uses as the
 * domain arrives.
 */
import { NotSupportedError } from '../domain/errors.js';

export function notImplemented(operationId: string): () => never {
  return () => {
    throw new NotSupportedError(`${operationId} is not implemented by this server yet`);
  };
}
