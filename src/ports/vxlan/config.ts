// A VXLAN port's configuration, and where it persists. `vale-ctl -n vx0 --vxlan vni=42,local=...`
// writes it; `netmap:vx0` (and so `vale-ctl -a vale0:vx0`, whose forwarder opens netmap:vx0)
// finds it; `vale-ctl -r vx0` removes it. netmap's -n makes an interface the OS sees; a VXLAN
// port has no kernel object of its own (its sockets exist while a port is open), so what
// persists is this small file: `<NMTS_SHM_DIR>/nmts.vxlan/<name>.json` (not an `nmts-` region
// file, so the region passes skip it), beside `<name>.stats` (counters, stats.ts).
//
// The file is untrusted input when read: opened without following links, owned by this user
// or root, at most 4 KiB, every field checked as the command line's are. An opener holds a
// shared flock on it for as long as the port is open, so -r can answer EBUSY.
import { O_CREAT, O_EXCL, O_NOFOLLOW, O_RDWR, open, SysError, unlink } from '../../sys/libc.js';
import { closeSync, constants, existsSync, readdirSync, readSync, renameSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { openOwnedFile, ownSubdir, SHM_DIR } from '../../core/shm.js';
import { NetmapError } from '../../core/region.js';
import { VNI_MAX, VXLAN_PORT, formatVtep, parseVtep, vtepIsIpv4 } from '../../packet/vxlan.js';

export interface VxlanStatic {
  /** 'aa:bb:cc:dd:ee:ff' */
  mac: string;
  /** remote VTEP: a dotted quad, or an IPv6 address (RFC 5952 form) */
  dst: string;
}

export interface VxlanConfig {
  vni: number;
  /** local VTEP address, IPv4 or IPv6 (the underlay's family: every address of the config is of it) */
  local: string;
  /** head-end replication list */
  remotes: string[];
  /** multicast group for broadcast / unknown unicast, or null */
  group: string | null;
  /** underlay interface (its MTU; the raw socket is bound to it), or null: the route's */
  dev: string | null;
  port: number;
  ttl: number;
  df: boolean;
  /** seconds a learned entry lives without traffic (Linux: 300) */
  ageing: number;
  /** static FDB entries: inner MAC -> VTEP */
  fdb: VxlanStatic[];
  /**
   * offloads=1 (default): an offload-aware opener (vale-ctl -a) gets a virtio-net header, so
   * super-frames reach the port whole (UDP GSO on the underlay, received TCP segments merged);
   * offloads=0: never a header unless a program asks (the switch cuts super-frames before the port)
   */
  offloads: boolean;
}

const KEYS = ['vni', 'local', 'remote', 'group', 'dev', 'port', 'ttl', 'df', 'ageing', 'fdb', 'offloads'];
/** Head-end replication sends one datagram per remote, all of a frame's in one batch. */
export const MAX_REMOTES = 64;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

function bad(msg: string): never {
  throw new NetmapError('EINVAL', `--vxlan: ${msg}`);
}

/** An address of either family, in its canonical text (a dotted quad, or RFC 5952 for IPv6). */
function address(key: string, v: string): string {
  const a = parseVtep(v);
  if (!a) bad(`${key}=${v} is not an IPv4 address (a.b.c.d) or an IPv6 address`);
  if (vtepIsIpv4(a, 0) && v.includes(':')) bad(`${key}=${v}: write an IPv4 VTEP as a.b.c.d`);
  return formatVtep(a, 0);
}

/** Whether an address text (canonical) is IPv6. */
export function isIpv6(text: string): boolean {
  return text.includes(':');
}

function int(key: string, v: string, min: number, max: number): number {
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) bad(`${key}=${v}: expected a number in ${min}..${max}`);
  return Number(v);
}

/**
 * `vni=42,local=10.0.0.1[,remote=10.0.0.2,remote=...][,group=239.1.1.1][,dev=eth0][,port=4789]`
 * [,ttl=64][,df=1][,ageing=300][,fdb=MAC@VTEP...] as the config it makes. Throws EINVAL naming
 * the field.
 */
export function parseVxlanSpec(spec: string): VxlanConfig {
  const c: VxlanConfig = { vni: -1, local: '', remotes: [], group: null, dev: null, port: VXLAN_PORT, ttl: 64, df: true, ageing: 300, fdb: [], offloads: true };
  for (const item of spec.split(',')) {
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) bad(`'${item}' is not key=value (keys: ${KEYS.join(', ')})`);
    const k = item.slice(0, eq), v = item.slice(eq + 1);
    switch (k) {
      case 'vni': c.vni = int(k, v, 0, VNI_MAX); break;
      case 'local': c.local = address(k, v); break;
      case 'remote': {
        const r = address(k, v);
        if (!c.remotes.includes(r)) c.remotes.push(r);
        if (c.remotes.length > MAX_REMOTES) bad(`at most ${MAX_REMOTES} remotes (head-end replication sends a copy to each)`);
        break;
      }
      case 'group': {
        const g = address(k, v);
        if (isIpv6(g) ? parseVtep(g)![0] !== 0xff : (parseVtep(g)![12] >>> 4) !== 0xe) bad(`group=${v} is not a multicast address (224.0.0.0/4, ff00::/8)`);
        c.group = g;
        break;
      }
      case 'dev':
        if (v === '' || Buffer.byteLength(v) > 15 || /[/\s:]/.test(v)) bad(`dev=${v} is not an interface name`);
        c.dev = v;
        break;
      case 'port': c.port = int(k, v, 1, 65535); break;
      case 'ttl': c.ttl = int(k, v, 1, 255); break;
      case 'df': c.df = int(k, v, 0, 1) === 1; break;
      case 'ageing': c.ageing = int(k, v, 1, 86400); break;
      case 'offloads': c.offloads = int(k, v, 0, 1) === 1; break;
      case 'fdb': {
        const at = v.indexOf('@');
        const mac = v.slice(0, at).toLowerCase();
        if (at < 0 || !MAC.test(mac)) bad(`fdb=${v}: expected MAC@VTEP, e.g. fdb=02:00:00:00:00:01@10.0.0.2`);
        c.fdb.push({ mac, dst: address(k, v.slice(at + 1)) });
        break;
      }
      default: bad(`unknown key '${k}' (keys: ${KEYS.join(', ')})`);
    }
  }
  if (c.vni < 0) bad('vni= is required (0..16777215)');
  if (c.local === '') bad('local= is required: the address of this VTEP on the underlay');
  if (c.remotes.includes(c.local)) bad(`remote=${c.local} is this VTEP's own address`);
  // one underlay, one family: the sockets are of local's
  const v6 = isIpv6(c.local), fam = v6 ? 'IPv6' : 'IPv4';
  for (const [k, a] of [...c.remotes.map((r) => ['remote', r]), ...(c.group ? [['group', c.group]] : []), ...c.fdb.map((f) => ['fdb', f.dst])]) {
    if (isIpv6(a) !== v6) bad(`${k}=${a} is not ${fam} as local=${c.local} is: an underlay has one address family`);
  }
  return c;
}

/** The config as the --vxlan text that makes it (for listings). */
export function formatVxlanSpec(c: VxlanConfig): string {
  return [`vni=${c.vni}`, `local=${c.local}`, ...c.remotes.map((r) => `remote=${r}`), ...(c.group ? [`group=${c.group}`] : []),
    ...(c.dev ? [`dev=${c.dev}`] : []), `port=${c.port}`, `ttl=${c.ttl}`, `df=${c.df ? 1 : 0}`, `ageing=${c.ageing}`,
    ...c.fdb.map((f) => `fdb=${f.mac}@${f.dst}`), ...(c.offloads ? [] : ['offloads=0'])].join(',');
}

/** The directory of VXLAN port files. */
export function vxlanDir(): string {
  return `${SHM_DIR}/nmts.vxlan`;
}

export function vxlanConfigPath(name: string): string {
  return `${vxlanDir()}/${name}.json`;
}

/** Static FDB entries added at run time (vale-ctl --vxlan-fdb): one `MAC@VTEP` per line. */
export function vxlanFdbPath(name: string): string {
  return `${vxlanDir()}/${name}.fdb`;
}

export function vxlanStatsPath(name: string): string {
  return `${vxlanDir()}/${name}.stats`;
}

/**
 * A port file its opener maps shared (counters, the table), made anew: whatever has the name
 * (a file a local user planted, a symlink, a FIFO, the last opener's page) is unlinked first,
 * and the file is created exclusively, so the mapping is of this process's own file. The
 * descriptor, read-write.
 */
export function createOwnFile(path: string): number {
  try { unlink(path); } catch (e) {
    if (!(e instanceof SysError && e.code === 'ENOENT')) throw e;
  }
  return open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
}

/** The forwarding table in force, learned and static entries, as its opener keeps it (fdb-table.ts). */
export function vxlanTablePath(name: string): string {
  return `${vxlanDir()}/${name}.table`;
}

/** A name a VXLAN port may have: an interface-like name netmap:NAME opens as itself. */
export function validVxlanName(name: string): boolean {
  return /^[A-Za-z0-9_.]{1,15}$/.test(name) && !name.startsWith('vale') && name !== '.' && name !== '..';
}

/** Whether a VXLAN port of this name is configured (a cheap check, made for every netmap:IF open). */
export function vxlanExists(name: string): boolean {
  return validVxlanName(name) && existsSync(vxlanConfigPath(name));
}

/** The configured VXLAN port names. */
export function vxlanNames(): string[] {
  try {
    return readdirSync(vxlanDir()).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).filter(validVxlanName).sort();
  } catch {
    return [];
  }
}

/** Write a new config (EEXIST when there is one). */
export function storeVxlanConfig(name: string, c: VxlanConfig): void {
  if (!validVxlanName(name)) throw new NetmapError('EINVAL', `'${name}' is not a VXLAN port name: 1 to 15 letters, digits, '_' or '.', not starting with vale`);
  ownSubdir(vxlanDir());
  const path = vxlanConfigPath(name);
  if (existsSync(path)) throw new NetmapError('EEXIST', `VXLAN port ${name} exists (${formatVxlanSpec(loadVxlanConfig(name).config)}); remove it first: vale-ctl -r ${name}`);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(c)}\n`, { mode: 0o644, flag: 'wx' });
  renameSync(tmp, path);
}

/**
 * Open and read a config, checked as untrusted input. Returns it with the open descriptor (the
 * caller flocks it, or closes it).
 */
export function loadVxlanConfig(name: string, keepFd = false): { config: VxlanConfig; fd: number } {
  const path = vxlanConfigPath(name);
  const f = openOwnedFile(path, constants.O_RDONLY);
  if (!f.ok) {
    if (f.notOwn) throw new NetmapError('EPERM', f.message);
    if (f.code === 'ENOENT') throw new NetmapError('ENXIO', `no VXLAN port ${name} (make it: vale-ctl -n ${name} --vxlan vni=N,local=ADDR,...)`);
    throw new NetmapError(f.code, `${path}: ${f.message}`);
  }
  const { fd, size } = f;
  try {
    if (size > 4096) throw new NetmapError('EINVAL', `${path}: ${size} bytes, a VXLAN config takes less than 4 KiB`);
    const buf = Buffer.alloc(size);
    const n = readSync(fd, buf, 0, size, 0);
    const config = checkStored(JSON.parse(buf.toString('utf8', 0, n)) as unknown, path);
    if (!keepFd) closeSync(fd);
    return { config, fd: keepFd ? fd : -1 };
  } catch (e) {
    try { closeSync(fd); } catch { /* already */ }
    if (e instanceof SyntaxError) throw new NetmapError('EINVAL', `${path}: not a VXLAN config (${e.message})`);
    throw e;
  }
}

/** A parsed file as a config: rebuilt through the --vxlan parser, so every field gets the same checks. */
function checkStored(o: unknown, path: string): VxlanConfig {
  if (typeof o !== 'object' || o === null) throw new NetmapError('EINVAL', `${path}: not a VXLAN config`);
  const r = o as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
  const parts = [`vni=${str(r.vni)}`, `local=${str(r.local)}`, `port=${str(r.port)}`, `ttl=${str(r.ttl)}`, `df=${r.df === true ? 1 : 0}`, `ageing=${str(r.ageing)}`];
  if (Array.isArray(r.remotes)) for (const x of r.remotes) parts.push(`remote=${str(x)}`);
  if (r.group !== null && r.group !== undefined) parts.push(`group=${str(r.group)}`);
  if (r.dev !== null && r.dev !== undefined) parts.push(`dev=${str(r.dev)}`);
  if (Array.isArray(r.fdb)) for (const f of r.fdb as Array<Record<string, unknown>>) parts.push(`fdb=${str(f?.mac)}@${str(f?.dst)}`);
  if (r.offloads === false) parts.push('offloads=0');
  try {
    return parseVxlanSpec(parts.join(','));
  } catch (e) {
    throw new NetmapError('EINVAL', `${path}: ${(e as Error).message}`);
  }
}

/** Port `name`'s configuration as vale-ctl -v prints it: the spec, then its run-time static entries. */
export function vxlanSpecText(name: string, c: VxlanConfig): string {
  return formatVxlanSpec(c) + loadStaticEntries(name).map((e) => `,fdb=${e.mac}@${e.dst}`).join('');
}

/** Remove the files of a VXLAN port (the caller checked nobody holds it). */
export function removeVxlanFiles(name: string): void {
  for (const p of [vxlanConfigPath(name), vxlanStatsPath(name), vxlanFdbPath(name), vxlanTablePath(name)]) {
    try { unlinkSync(p); } catch { /* not there */ }
  }
}

/** Parse `MAC@VTEP` (EINVAL naming it otherwise). */
export function parseStaticEntry(text: string): VxlanStatic {
  const at = text.indexOf('@');
  const mac = text.slice(0, at).toLowerCase();
  if (at < 0 || !MAC.test(mac)) throw new NetmapError('EINVAL', `'${text}': expected MAC@VTEP, e.g. 02:00:00:00:00:01@10.0.0.2`);
  if ((parseInt(mac.slice(0, 2), 16) & 1) !== 0) throw new NetmapError('EINVAL', `'${text}': ${mac} is a multicast address`);
  return { mac, dst: address('fdb', text.slice(at + 1)) };
}

/** Append a static entry to port `name`'s run-time list (the port must exist). */
export function appendStaticEntry(name: string, e: VxlanStatic): void {
  if (!vxlanExists(name)) throw new NetmapError('ENXIO', `no VXLAN port ${name}`);
  const path = vxlanFdbPath(name);
  // never through a planted symlink or into a FIFO or another user's file
  const f = openOwnedFile(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT);
  if (!f.ok) {
    if (f.notOwn) throw new NetmapError('EPERM', f.message);
    throw new NetmapError(f.code, `${path}: not a file to append to (${f.code === 'ELOOP' ? 'a symlink' : f.code === 'ENXIO' ? 'a FIFO' : f.message})`);
  }
  try {
    writeSync(f.fd, `${e.mac}@${e.dst}\n`);
  } finally {
    closeSync(f.fd);
  }
}

/** Parse `MAC` or `MAC@VTEP`, what --vxlan-fdb-del removes (dst '' : every entry of the MAC). */
export function parseStaticSelector(text: string): VxlanStatic {
  if (text.includes('@')) return parseStaticEntry(text);
  const mac = text.toLowerCase();
  if (!MAC.test(mac)) throw new NetmapError('EINVAL', `'${text}': expected MAC or MAC@VTEP, e.g. 02:00:00:00:00:01@10.0.0.2`);
  return { mac, dst: '' };
}

/**
 * Remove port `name`'s run-time static entries matching `sel` (its MAC, and its VTEP unless
 * empty): the list rewritten and renamed into place. ENOENT when none matches; an entry of the
 * port's configuration (-n ... fdb=) is not removable here (EPERM, naming it).
 */
export function removeStaticEntries(name: string, sel: VxlanStatic): void {
  const { config } = loadVxlanConfig(name);
  const match = (e: VxlanStatic): boolean => e.mac === sel.mac && (sel.dst === '' || e.dst === sel.dst);
  const entries = loadStaticEntries(name);
  const keep = entries.filter((e) => !match(e));
  if (keep.length === entries.length) {
    const fixed = config.fdb.find(match);
    if (fixed) throw new NetmapError('EPERM', `${fixed.mac}@${fixed.dst} is part of ${name}'s configuration (fdb= at -n): remove and make the port again to drop it`);
    throw new NetmapError('ENOENT', `no static entry ${sel.mac}${sel.dst ? `@${sel.dst}` : ''} added to ${name} (vale-ctl -v lists them)`);
  }
  const path = vxlanFdbPath(name), tmp = `${path}.${process.pid}.tmp`;
  try { unlinkSync(tmp); } catch { /* none left over */ }
  writeFileSync(tmp, keep.map((e) => `${e.mac}@${e.dst}\n`).join(''), { mode: 0o644, flag: 'wx' }); // (wx: not through a planted link)
  renameSync(tmp, path);
}

/** The run-time static entries of port `name`: lines checked, bad ones left out; at most 64 KiB read. */
export function loadStaticEntries(name: string): VxlanStatic[] {
  const f = openOwnedFile(vxlanFdbPath(name), constants.O_RDONLY);
  if (!f.ok) return [];
  const fd = f.fd;
  try {
    const buf = Buffer.alloc(Math.min(f.size, 1 << 16));
    const n = readSync(fd, buf, 0, buf.length, 0);
    const out: VxlanStatic[] = [];
    for (const line of buf.toString('utf8', 0, n).split('\n')) {
      try { if (line !== '') out.push(parseStaticEntry(line)); } catch { /* a damaged line */ }
    }
    return out;
  } finally {
    closeSync(fd);
  }
}
