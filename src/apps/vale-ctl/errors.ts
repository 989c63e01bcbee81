// vale-ctl's errors: netmap's `failed to <action> NAME: <strerror>` lines, and usage errors.
import { constants as osConstants } from 'node:os';
import { PortSpecError } from '../../core/portspec.js';
import { NetmapError } from '../../core/region.js';
import { strerror, SysError } from '../../sys/libc.js';

// ---------------------------------------------------------------------------------------
// errors

const FALLBACK_STRERROR: Record<string, string> = {
  ENOENT: 'No such file or directory',
  ENXIO: 'No such device or address',
  ENODEV: 'No such device',
  EINVAL: 'Invalid argument',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EEXIST: 'File exists',
  EBUSY: 'Device or resource busy',
  ENOMEM: 'Cannot allocate memory',
  ENOTSUP: 'Operation not supported',
  EOPNOTSUPP: 'Operation not supported',
  EAGAIN: 'Resource temporarily unavailable',
};

/** strerror() of an errno name ('ENOENT' → 'No such file or directory'). */
export function strerrorOf(code: string): string {
  const n = (osConstants.errno as Record<string, number | undefined>)[code];
  if (n !== undefined) {
    try {
      const s = strerror(n);
      if (s) return s;
    } catch { /* no libc binding: use the table */ }
  }
  return FALLBACK_STRERROR[code] ?? code;
}

/**
 * A vale-ctl request that failed: `failed to <action> <target>: <strerror>[ (<detail>)]`,
 * netmap's format, with netmap-ts's explanation in parentheses.
 */
export class ValeCtlError extends Error {
  /** errno name: ENOENT, EACCES, ENXIO, EINVAL, EEXIST, ENOTSUP... */
  readonly code: string;
  /** netmap's action word: 'list', 'obtain info for', 'attach', 'detach', 'create', ... */
  readonly action: string;
  readonly target: string;
  readonly detail: string;
  constructor(action: string, target: string, code: string, detail = '') {
    const reason = strerrorOf(code);
    // a detail that starts by repeating the reason ("permission denied: ...") is shortened
    const d = detail.toLowerCase().startsWith(`${reason.toLowerCase()}: `) ? detail.slice(reason.length + 2) : detail;
    super(`failed to ${action} ${target}: ${reason}${d ? ` (${d})` : ''}`);
    this.name = 'ValeCtlError';
    this.code = code;
    this.action = action;
    this.target = target;
    this.detail = d;
  }
}

/** Bad command line: the CLI prints the message and the usage text, and exits 2. */
export class ValeCtlUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValeCtlUsageError';
  }
}

/** Rethrow any error of a request as the ValeCtlError netmap's tool would print. */
export function fail(action: string, target: string, e: unknown): never {
  if (e instanceof ValeCtlError) throw e;
  if (e instanceof NetmapError) throw new ValeCtlError(action, target, e.code, e.message);
  if (e instanceof PortSpecError) throw new ValeCtlError(action, target, 'EINVAL', e.reason);
  if (e instanceof SysError) throw new ValeCtlError(action, target, e.code, e.message); // e.g. EPERM removing a file of another user
  throw e;
}
