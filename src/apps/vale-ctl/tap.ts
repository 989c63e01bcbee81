// vale-ctl -n NAME / -r NAME: persistent ports. netmap's -n makes a persistent VALE port, an
// interface the OS sees; netmap-ts makes that interface a persistent TAP device (TUNSETPERSIST),
// which netmap:NAME then opens (its rings feed and read the TAP's host stack) and
// `vale-ctl -a valeX:NAME` attaches to a switch. -r removes it. A TAP named IF^ serves as the
// host stack of IF (netmap:IF^, IF*) and then outlives the ports that use it.
//
// Failures throw NetmapError(errno name, explanation); vale-ctl.ts prints them as netmap's
// `failed to create NAME: <strerror> (<explanation>)`.
import { existsSync } from 'node:fs';
import { parsePortSpec } from '../../core/portspec.js';
import { NetmapError } from '../../core/region.js';
import { ifHwAddr, ifMtu, NetError, setIfHwAddr, setIfMtu, setIfUp } from '../../sys/net.js';
import { closeTap, openTap, setPersistent, tunFlags, type TapDevice } from '../../sys/tun.js';
import * as K from '../../sys/kernel-abi.js';
import type { ValeCtlArgs, ValeCtlOutput } from './vale-ctl.js';

function validName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && Buffer.byteLength(name) < K.IFNAMSIZ && !/[/\s:]/.test(name);
}

const BAD_NAME = `not a valid interface name: 1 to ${K.IFNAMSIZ - 1} bytes, no '/', ':' or spaces`;

/** A kernel error turned into vale-ctl's (errno name and what to do). */
function kernelError(e: unknown, what: string): unknown {
  if (!(e instanceof NetError)) return e;
  if (e.errno === K.EPERM || e.errno === K.EACCES) return new NetmapError('EPERM', `${what} needs CAP_NET_ADMIN: run as root`);
  return new NetmapError(e.code, e.message);
}

/** IF for a name IF^ when interface IF exists (the TAP is then IF's host stack), else null. */
function hostOf(name: string): string | null {
  const base = name.endsWith('^') ? name.slice(0, -1) : '';
  return base !== '' && existsSync(`/sys/class/net/${base}`) ? base : null;
}

/** -n NAME: a persistent TAP device NAME, up; for NAME = IF^, with IF's MAC address and MTU. */
function createTap(name: string, io: ValeCtlOutput, verbose: boolean): void {
  if (name.startsWith('vale')) throw new NetmapError('EINVAL', 'a persistent port is named like an interface, without the vale prefix; attach it with -a valeX:NAME');
  if (!validName(name)) throw new NetmapError('EINVAL', BAD_NAME);
  if (existsSync(`/sys/class/net/${name}`)) throw new NetmapError('EEXIST', `network interface ${name} already exists`);
  let tap: TapDevice;
  try {
    tap = openTap(name, 'create');
  } catch (e) {
    if (e instanceof NetError && e.errno === K.EBUSY) throw new NetmapError('EEXIST', `network interface ${name} already exists`);
    throw kernelError(e, `creating TAP ${name}`);
  }
  const base = hostOf(name);
  try {
    setPersistent(tap.fd, name, true);
    try {
      if (base) { // IF^, the host stack of IF, gets IF's address and MTU as when a port makes it
        setIfHwAddr(name, ifHwAddr(base));
        setIfMtu(name, ifMtu(base));
      }
      setIfUp(name, true); // netmap:NAME opens interfaces that are up
    } catch (e) {
      setPersistent(tap.fd, name, false);
      throw e;
    }
  } catch (e) {
    throw kernelError(e, `creating TAP ${name}`);
  } finally {
    closeTap(tap.fd); // a device that did not become persistent goes with it
  }
  let spec = null;
  try { spec = parsePortSpec(`netmap:${name}`); } catch { /* noted below */ }
  if (spec?.mode === 'sw' && spec.name !== '' && !spec.pipe) {
    if (verbose) io.out(`${name}: persistent TAP device, the host stack of ${spec.name} (netmap:${spec.name}^, netmap:${spec.name}*)`);
  } else if (!spec || spec.name !== name || spec.mode !== 'all-nic' || spec.pipe) {
    io.err(`vale-ctl: note: netmap:${name} names another port ('-', '{', '}', '@', '/', '*' and '^' mean something in port names): choose a name without them to open this one`);
  } else if (verbose) {
    io.out(`${name}: persistent TAP device, open it as netmap:${name}`);
  }
}

/** -r NAME: remove the persistent TAP NAME. */
function removeTap(name: string): void {
  if (!validName(name)) throw new NetmapError('EINVAL', BAD_NAME);
  if (!existsSync(`/sys/class/net/${name}`)) throw new NetmapError('ENXIO', `no network interface ${name}`);
  const flags = tunFlags(name);
  if (flags === null || (flags & K.IFF_TAP) === 0) {
    throw new NetmapError('EINVAL', `${name} is not a persistent VALE port; netmap-ts makes them as TAP devices, with vale-ctl -n`);
  }
  if ((flags & K.IFF_PERSIST) === 0) throw new NetmapError('EBUSY', `${name} is a TAP device that is not persistent: it goes when the process holding it closes it`);
  let tap: TapDevice;
  try {
    tap = openTap(name, 'attach');
  } catch (e) {
    if (e instanceof NetError && e.errno === K.EBUSY) throw new NetmapError('EBUSY', `${name} is in use: a port (netmap:${name}, or a host stack) or another process holds it; close it first`);
    throw kernelError(e, `removing TAP ${name}`);
  }
  try {
    setPersistent(tap.fd, name, false);
  } catch (e) {
    throw kernelError(e, `removing TAP ${name}`);
  } finally {
    closeTap(tap.fd); // the last fd of a TAP that is not persistent: the kernel removes the device
  }
}

/**
 * vale-ctl -n / -r (args.request 'create' / 'remove'). -C and -m are accepted, as netmap's
 * vale-ctl accepts them, and have no effect: a TAP port's rings are chosen by whoever opens it.
 */
export function valeCtlTap(args: Pick<ValeCtlArgs, 'request' | 'name' | 'config' | 'memId' | 'verbose'>, io: ValeCtlOutput): void {
  const name = args.name ?? '';
  if (args.request === 'create') {
    if (args.config !== null) io.err(`vale-ctl: -C has no effect on a TAP port: its rings are set when netmap:${name} is opened (@conf:)`);
    if (args.memId !== null) io.err('vale-ctl: -m has no effect on a TAP port: each opener has its own memory');
    createTap(name, io, args.verbose > 0);
  } else if (args.request === 'remove') {
    removeTap(name);
  } else {
    throw new NetmapError('EINVAL', `vale-ctl-tap: request ${args.request} is not -n or -r`);
  }
}
