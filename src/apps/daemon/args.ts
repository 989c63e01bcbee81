// The daemon's protocol: the commands, the arguments each takes, the checks that turn a
// malformed request or argument into an error naming it (EBADMSG: not JSON, ENOSYS: unknown
// command, EINVAL: a bad argument), and the error code a failure travels with (docs/daemon.md
// lists them). Nothing here touches a socket or the daemon's state.
import { NetmapError, parsePortSpec, formatPortSpec, type OpenOptions } from '../../index.js';
import type { PollingRequest } from '../vale-attach/vale-attach.js';

/** Commands of the protocol, in the order docs/daemon.md lists them. */
export const DAEMON_COMMANDS = ['ping', 'list', 'hold', 'release', 'held', 'reclaim', 'stats', 'attach', 'detach', 'polling', 'attached', 'vhost-create', 'vhost-remove', 'vhost-list', 'vxlan-fdb-add', 'vxlan-fdb-del', 'vxlan-fdb-show'] as const;
export type Command = (typeof DAEMON_COMMANDS)[number];

export type Request = Record<string, unknown>;

export const CONF_KEYS = ['rings', 'slots', 'txRings', 'rxRings', 'txSlots', 'rxSlots'] as const;
export const ARGS: Record<Command, readonly string[]> = {
  ping: [], list: [], hold: ['port', 'conf'], release: ['port'], held: [], reclaim: [], stats: ['port'],
  attach: ['port', 'host', 'conf'], detach: ['port'], polling: ['port', 'enable', 'mode', 'firstCpu', 'numCpus'], attached: [],
  'vhost-create': ['port', 'path', 'kind', 'queues', 'conf', 'offloads'], 'vhost-remove': ['port'], 'vhost-list': [],
  'vxlan-fdb-add': ['port', 'entry'], 'vxlan-fdb-del': ['port', 'entry'], 'vxlan-fdb-show': ['port'],
};

/** Canonical name of a port spec, without @conf (which only matters when creating). */
export function canonicalPort(name: string): string {
  let spec;
  try {
    spec = parsePortSpec(name, { defaultPrefix: true });
  } catch (e) {
    throw new NetmapError('EINVAL', e instanceof Error ? e.message : String(e));
  }
  return formatPortSpec({ ...spec, conf: {} });
}

export function portArg(req: Request): string {
  const p = req.port;
  if (p === undefined) throw new NetmapError('EINVAL', `missing argument 'port' (a port name such as "vale0:p1")`);
  if (typeof p !== 'string' || p.length === 0) throw new NetmapError('EINVAL', `argument 'port' must be a non-empty string (a port name such as "vale0:p1"), got ${JSON.stringify(p)}`);
  if (p.length > 512) throw new NetmapError('EINVAL', `argument 'port' is too long (${p.length} characters)`);
  return p;
}

export function confArg(req: Request): OpenOptions {
  const c = req.conf;
  if (c === undefined || c === null) return {};
  if (typeof c !== 'object' || Array.isArray(c)) throw new NetmapError('EINVAL', `argument 'conf' must be an object such as {"rings": 2, "slots": 1024}`);
  const o: OpenOptions = {};
  for (const [k, v] of Object.entries(c)) {
    if (!(CONF_KEYS as readonly string[]).includes(k)) throw new NetmapError('EINVAL', `unknown conf key '${k}' (known: ${CONF_KEYS.join(', ')})`);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new NetmapError('EINVAL', `conf.${k} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  const n = c as Partial<Record<(typeof CONF_KEYS)[number], number>>;
  o.txRings = n.txRings ?? n.rings;
  o.rxRings = n.rxRings ?? n.rings;
  o.txSlots = n.txSlots ?? n.slots;
  o.rxSlots = n.rxSlots ?? n.slots;
  return o;
}

/** A string argument (vhost-user socket paths). */
export function stringArg(req: Request, key: string): string {
  const v = req[key];
  if (typeof v !== 'string' || v.length === 0 || v.length > 107) throw new NetmapError('EINVAL', `argument '${key}' must be a non-empty string of at most 107 characters`);
  return v;
}

/** A VXLAN FDB entry: `MAC@VTEP` (add), `MAC` or `MAC@VTEP` (del); checked in full by ports/vxlan. */
export function entryArg(req: Request): string {
  const v = req.entry;
  if (typeof v !== 'string' || v.length === 0 || v.length > 100) throw new NetmapError('EINVAL', `${v === undefined ? 'missing' : 'invalid'} argument 'entry': a string MAC@VTEP such as "02:00:00:00:00:01@10.0.0.2"`);
  return v;
}

/** A VM port's queue pairs ('queues', default 1, at most 8) and its switch port's slots ('conf': txSlots, rxSlots). */
export function vmRingArg(req: Request): { queues?: number; txSlots?: number; rxSlots?: number; offloads?: boolean } {
  const q = req.queues;
  if (q !== undefined && (typeof q !== 'number' || !Number.isInteger(q) || q < 1 || q > 8)) throw new NetmapError('EINVAL', `argument 'queues' must be an integer from 1 to 8, got ${JSON.stringify(q)}`);
  const c = confArg(req);
  if ((c.txRings !== undefined || c.rxRings !== undefined) && q === undefined) throw new NetmapError('EINVAL', `a VM port's rings are its queue pairs: give 'queues', not conf rings`);
  return { queues: q as number | undefined, txSlots: c.txSlots, rxSlots: c.rxSlots, offloads: boolArg(req, 'offloads', false) };
}

/** The kind of a VM port: 'vhost-user' (the default) or 'stream' (QEMU's -netdev stream). */
export function vmKindArg(req: Request): 'vhost-user' | 'stream' {
  const v = req.kind;
  if (v === undefined || v === 'vhost-user') return 'vhost-user';
  if (v === 'stream') return 'stream';
  throw new NetmapError('EINVAL', `argument 'kind' must be "vhost-user" or "stream", got ${JSON.stringify(v)}`);
}

export function boolArg(req: Request, key: string, required: boolean): boolean {
  const v = req[key];
  if (v === undefined && !required) return false;
  if (typeof v !== 'boolean') throw new NetmapError('EINVAL', `${v === undefined ? 'missing' : 'invalid'} argument '${key}' (true or false)${v === undefined ? '' : `, got ${JSON.stringify(v)}`}`);
  return v;
}

export function pollingArg(req: Request): PollingRequest | null {
  const { mode, firstCpu, numCpus } = req;
  if (mode === undefined) {
    if (firstCpu !== undefined || numCpus !== undefined) throw new NetmapError('EINVAL', `'firstCpu' and 'numCpus' need 'mode' ("single" or "multi")`);
    return null;
  }
  if (mode !== 'single' && mode !== 'multi') throw new NetmapError('EINVAL', `argument 'mode' must be "single" or "multi", got ${JSON.stringify(mode)}`);
  for (const [k, v] of [['firstCpu', firstCpu], ['numCpus', numCpus]] as const) {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < 0)) throw new NetmapError('EINVAL', `argument '${k}' must be an integer >= 0, got ${JSON.stringify(v)}`);
  }
  return { mode, firstCpu: firstCpu as number | undefined, numCpus: numCpus as number | undefined };
}

/** hold is for VALE ports and pipes: an interface is attached to a switch instead. */
export function refuseInterface(name: string): void {
  let spec;
  try { spec = parsePortSpec(name, { defaultPrefix: true }); } catch { return; } // open() reports it
  if (spec.kind === 'netmap' && !spec.pipe) {
    throw new NetmapError('EINVAL', `${name} is a Linux interface: the daemon attaches interfaces to a switch ({"cmd":"attach","port":"valeX:${spec.name}"}, nmts vale-ctl -a valeX:${spec.name}); hold takes VALE ports and pipes`);
  }
}

export function jsonErrorMessage(e: unknown, text: string): string {
  const msg = e instanceof Error ? e.message : String(e);
  const m = /position (\d+)/.exec(msg);
  const pos = m ? Number(m[1]) : text.length;
  const near = text.slice(Math.max(0, pos - 10), pos + 10);
  return `bad JSON at column ${pos + 1}${near ? ` (near ${JSON.stringify(near)})` : ' (empty request)'}: ${msg}`;
}


/** A request line checked against the protocol: a command with known arguments, or why not. */
export type Parsed =
  | { ok: true; id: unknown; command: Command; req: Request }
  | { ok: false; id: unknown; code: string; error: string };

export function parseRequest(text: string): Parsed {
  let req: unknown;
  try {
    req = JSON.parse(text);
  } catch (e) {
    return { ok: false, id: null, code: 'EBADMSG', error: jsonErrorMessage(e, text) };
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req)) {
    return { ok: false, id: null, code: 'EINVAL', error: `a request must be a JSON object such as {"id":1,"cmd":"ping"}, got ${Array.isArray(req) ? 'an array' : req === null ? 'null' : typeof req}` };
  }
  const r = req as Request;
  const id = r.id === undefined ? null : r.id;
  const cmd = r.cmd;
  if (cmd === undefined) return { ok: false, id, code: 'EINVAL', error: `missing 'cmd' (known commands: ${DAEMON_COMMANDS.join(', ')})` };
  if (typeof cmd !== 'string' || !(DAEMON_COMMANDS as readonly string[]).includes(cmd)) {
    return { ok: false, id, code: 'ENOSYS', error: `unknown command ${JSON.stringify(cmd)} (known commands: ${DAEMON_COMMANDS.join(', ')})` };
  }
  const command = cmd as Command;
  for (const k of Object.keys(r)) {
    if (k !== 'id' && k !== 'cmd' && !ARGS[command].includes(k)) {
      return { ok: false, id, code: 'EINVAL', error: `unknown argument '${k}' for ${command}${ARGS[command].length ? ` (arguments: ${ARGS[command].join(', ')})` : ' (it takes none)'}` };
    }
  }
  return { ok: true, id, command, req: r };
}

/** The code and message a failed request goes back with: errno-like codes pass, anything else is EIO. */
export function errorReply(e: unknown): { code: string; error: string } {
  const code = e instanceof NetmapError ? e.code : (e as { code?: unknown })?.code;
  const error = e instanceof Error ? e.message : String(e);
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return { code, error };
  if (e instanceof Error && e.name === 'PortSpecError') return { code: 'EINVAL', error };
  return { code: 'EIO', error: `internal error: ${error}` };
}
