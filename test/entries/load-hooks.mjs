// Module hooks for the entry-point tests (registered by record-loads.mjs): every module a process resolves is
// appended to the file LOCKSTEP_LOAD_LOG names, and the packages in LOCKSTEP_HIDE_PACKAGES (comma-separated)
// cannot be found, as if they were not installed.
import { appendFileSync } from 'node:fs';

const log = process.env.LOCKSTEP_LOAD_LOG;
const hidden = new Set((process.env.LOCKSTEP_HIDE_PACKAGES ?? '').split(',').filter(Boolean));

export async function resolve(specifier, context, next) {
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0];
  if (hidden.has(name)) {
    throw Object.assign(new Error(`Cannot find package '${name}' (hidden by the test)`), { code: 'ERR_MODULE_NOT_FOUND' });
  }
  const resolved = await next(specifier, context);
  if (log) appendFileSync(log, `${resolved.url}\n`);
  return resolved;
}
