import { createHash, timingSafeEqual } from 'node:crypto';
import { ErrorCode, LockstepError } from '../core/errors.js';

/** The environment variable that holds the bearer token of mutating requests. */
export const TOKEN_ENV = 'LOCKSTEP_TOKEN';

const digest = (text: string) => createHash('sha256').update(text).digest();

/**
 * Checks the `Authorization` header of a mutating request against the configured token, in constant time.
 *
 * @throws LockstepError `AUTH_NOT_CONFIGURED` when no token is configured, `UNAUTHORIZED` when the header is
 * missing, not a bearer token, or not the configured one.
 */
export function checkBearer(header: string | undefined, token: string | undefined): void {
  if (!token) {
    throw new LockstepError(
      ErrorCode.authNotConfigured,
      `mutating requests are disabled because no token is configured: start lockstep serve with ${TOKEN_ENV}=<secret> in its environment, then send "Authorization: Bearer <secret>"`,
    );
  }
  if (header === undefined || header.trim() === '') {
    throw new LockstepError(
      ErrorCode.unauthorized,
      `missing Authorization header: send "Authorization: Bearer <token>" with the token from ${TOKEN_ENV}`,
    );
  }
  const [scheme = '', ...rest] = header.trim().split(/\s+/);
  if (scheme.toLowerCase() !== 'bearer') {
    throw new LockstepError(ErrorCode.unauthorized, `expected "Authorization: Bearer <token>", got the "${scheme.slice(0, 20)}" scheme`);
  }
  const presented = rest.join(' ');
  if (presented === '')
    throw new LockstepError(ErrorCode.unauthorized, `the Authorization header names the Bearer scheme but carries no token`);
  if (!timingSafeEqual(digest(presented), digest(token))) {
    throw new LockstepError(ErrorCode.unauthorized, `the bearer token does not match ${TOKEN_ENV}`);
  }
}
