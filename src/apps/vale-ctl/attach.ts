// vale-ctl's Linux-interface requests: -a valeX:IF (attach), -h valeX:IF (attach with the host
// stack), -d valeX:IF (detach), -p valeX:IF [-C ...] (busy polling), -P valeX:IF. Each is a
// request to the nmts daemon, which keeps the attachment (a forwarder thread per interface,
// vale-attach.ts) after vale-ctl exits, as netmap's kernel does. When no daemon answers,
// -a and -h start one (daemon/client.ts); -d, -p and -P then report that nothing is attached.
// Errors keep netmap's format: `failed to attach vale0:eth9: No such device or address (...)`.
//
// Also the asynchronous entry points of vale-ctl (runValeCtlAsync, valeCtlAsync), used by
// `nmts vale-ctl`: the other requests run synchronously in vale-ctl.ts.
import { NetmapError } from '../../core/region.js';
import { ifIndex } from '../../sys/net.js';
import { vxlanExists } from './vxlan.js';
import { daemonCall } from '../daemon/client.js';
import { parseAttachName } from '../vale-attach/vale-attach.js';
import {
  ACTION, checkPollConfig, parsePollConfig, parseRingConfig, runValeCtl, ValeCtlInvocation,
  ValeCtlError, type ValeCtlArgs, type ValeCtlOutput, type ValeCtlRequest, type ValeCtlResult,
} from './vale-ctl.js';
import { boundedConf } from '../common/ring-config.js';
import { resolve } from 'node:path';
import type { VhostPortInfo } from '../vhost-user/manager.js';

type InterfaceRequest = 'attach' | 'attach-host' | 'detach' | 'polling-on' | 'polling-off';
const INTERFACE_REQUESTS: ReadonlySet<ValeCtlRequest> = new Set<ValeCtlRequest>(['attach', 'attach-host', 'detach', 'polling-on', 'polling-off']);

/** Whether a request is one of -a/-h/-d/-p/-P (answered by the daemon). */
export function isInterfaceRequest(r: ValeCtlRequest): r is InterfaceRequest {
  return INTERFACE_REQUESTS.has(r);
}


function interfaceHere(ifname: string): boolean {
  if (vxlanExists(ifname)) return true; // a VXLAN port: its forwarder opens netmap:NAME
  try {
    ifIndex(ifname);
    return true;
  } catch {
    return false;
  }
}

/** The daemon request for a parsed -a/-h/-d/-p/-P command line. */
function requestBody(args: ValeCtlArgs, port: string): Record<string, unknown> {
  switch (args.request as InterfaceRequest) {
    case 'attach': case 'attach-host': {
      const body: Record<string, unknown> = { cmd: 'attach', port, host: args.request === 'attach-host' };
      if (args.config !== null) {
        const conf = boundedConf(parseRingConfig(args.config)); // as the kernel bounds them (nm_bound_var)
        if (Object.keys(conf).length) body.conf = conf;
      }
      return body;
    }
    case 'detach':
      return { cmd: 'detach', port };
    case 'polling-on': {
      if (args.config === null) return { cmd: 'polling', port, enable: true };
      const c = parsePollConfig(args.config);
      const why = checkPollConfig(c);
      if (why) throw new NetmapError('EINVAL', why);
      return { cmd: 'polling', port, enable: true, mode: c.mode, firstCpu: c.firstCpu, numCpus: c.numCpus };
    }
    case 'polling-off':
      return { cmd: 'polling', port, enable: false };
  }
}

/** Run -a/-h/-d/-p/-P through the daemon. Throws ValeCtlError in netmap's format. */
export async function interfaceRequest(args: ValeCtlArgs, io: ValeCtlOutput): Promise<void> {
  const request = args.request as InterfaceRequest;
  const action = ACTION[request], name = args.name!;
  const attach = request === 'attach' || request === 'attach-host';
  try {
    const { sw, ifname } = parseAttachName(name, !attach);
    const body = requestBody(args, `${sw}:${ifname}`);
    if (args.config !== null && attach) for (const note of parseRingConfig(args.config).notes) io.err(`vale-ctl: ${note}`);
    if (args.memId !== null && attach) io.err(`vale-ctl: -m ${args.memId} ignored: an attached interface has a memory region of its own, and its switch port is in the switch's`);
    const reply = await daemonCall(body, {
      autostart: attach,
      note: (l) => io.err(`vale-ctl: ${l}`),
      noDaemon: (socket) => {
        if (!interfaceHere(ifname)) throw new NetmapError('ENXIO', `no network interface ${ifname}`);
        if (!attach) throw new NetmapError('ENXIO', `${ifname} is not attached to ${sw}: no nmts daemon answers on ${socket}, and attachments live in the daemon`);
      },
    });
    report(request, reply, args.verbose > 0, io);
  } catch (e) {
    if (e instanceof NetmapError) throw new ValeCtlError(action, name, e.code, e.message);
    throw e;
  }
}

function report(request: InterfaceRequest, r: Record<string, unknown>, verbose: boolean, io: ValeCtlOutput): void {
  if (request === 'attach' || request === 'attach-host') {
    const lines = Array.isArray(r.lines) ? (r.lines as string[]) : [];
    // advice and a fallback matter even when all went well: they go to stderr
    for (const l of lines) if (l.startsWith('warning:') || l.includes('not AF_XDP because')) io.err(`vale-ctl: ${l}`);
    if (verbose) {
      io.out(`attached ${String(r.interface)} to ${String(r.switch)}: ${String(r.port)} port_idx ${String(r.index)}${r.hostPort ? `, ${String(r.hostPort)} port_idx ${String(r.hostIndex)}` : ''}`);
      for (const l of lines) if (!l.startsWith('warning:')) io.out(l);
    }
  } else if (request === 'detach') {
    if (verbose) io.out(`detached ${(r.detached as string[]).join(' ')}`);
  } else {
    // -C 1,y,z: netmap's core per ring is not how it works here, and the user should know
    if (r.polling && !verbose && String(r.note).includes('netmap polls')) io.err(`vale-ctl: ${String(r.note)}`);
    if (verbose) io.out(r.polling ? `polling ${String(r.port)}: ${String(r.note)}` : `stopped polling ${String(r.port)}`);
  }
}

/** runValeCtl for every request, the daemon's included. */
export async function runValeCtlAsync(args: ValeCtlArgs, io: ValeCtlOutput): Promise<void> {
  if (isInterfaceRequest(args.request)) return interfaceRequest(args, io);
  if (args.request === 'create' && args.vhostUser !== null) return vhostCreate(args, io);
  if (args.request === 'remove' && await vhostRemove(args.name!)) return;
  runValeCtl(args, io);
  if (args.request === 'list' && args.name === null && args.verbose > 0) await vhostListing(io);
}

/**
 * valeCtl (vale-ctl.ts) for every request: parse `argv`, run it, and return the exit status
 * netmap's tool would have (0 ok, 1 failed request, 2 bad usage) with what it printed.
 */
export async function valeCtlAsync(argv: readonly string[]): Promise<ValeCtlResult> {
  const call = new ValeCtlInvocation();
  const args = call.parse(argv);
  if ('status' in args) return args;
  try {
    await runValeCtlAsync(args, call.io);
    return call.ok();
  } catch (e) {
    return call.failed(e);
  }
}

// ---- vhost-user ports (the daemon serves them: apps/vhost-user/) ----

async function vhostCreate(args: ValeCtlArgs, io: ValeCtlOutput): Promise<void> {
  const name = args.name!;
  try {
    const path = resolve(args.vhostUser!);
    const kind = args.vmKind ?? 'vhost-user';
    const body: Record<string, unknown> = { cmd: 'vhost-create', port: name, path, kind };
    if (args.offloads) body.offloads = true;
    if (args.config !== null) {
      // -C tx_slots,rx_slots,queues: the switch port's slots and the queue pairs (its ring pairs)
      const c = boundedConf(parseRingConfig(args.config));
      if (c.txRings !== undefined && c.rxRings !== undefined && c.txRings !== c.rxRings) throw new NetmapError('EINVAL', `-C: a VM port has as many rx as tx rings (one pair per queue pair), got ${c.txRings},${c.rxRings}`);
      if (c.txRings !== undefined) body.queues = c.txRings;
      const conf: Record<string, number> = {};
      if (c.txSlots !== undefined) conf.txSlots = c.txSlots;
      if (c.rxSlots !== undefined) conf.rxSlots = c.rxSlots;
      if (Object.keys(conf).length) body.conf = conf;
    }
    const r = await daemonCall(body, { autostart: true, note: (l) => io.err(`vale-ctl: ${l}`) });
    const pairs = typeof r.queuePairs === 'number' ? r.queuePairs : 1;
    const extras = [...(pairs > 1 ? [`${pairs} queue pairs`] : []), ...(r.offloads === true ? ['offloads (12-byte virtio-net header)'] : [])];
    io.out(`${name}: ${kind} port${extras.length ? ` with ${extras.join(' and ')}` : ''}, socket ${path}; attach it with: nmts vale-ctl -a vale0:${name}`);
    io.out(`QEMU: ${(r.qemu as string[]).join(' ')}`);
  } catch (e) {
    if (e instanceof NetmapError) throw new ValeCtlError(ACTION.create, name, e.code, e.message);
    throw e;
  }
}

/** -r NAME of a vhost-user port of the daemon: true when it was one (and is removed). */
async function vhostRemove(name: string): Promise<boolean> {
  let ports: { name: string }[];
  try {
    ports = (await daemonCall({ cmd: 'vhost-list' }, { autostart: false, note: () => {} })).ports as { name: string }[];
  } catch {
    return false; // no daemon: a TAP port, if anything
  }
  if (!ports.some((p) => p.name === name)) return false;
  try {
    await daemonCall({ cmd: 'vhost-remove', port: name }, { autostart: false, note: () => {} });
  } catch (e) {
    if (e instanceof NetmapError) throw new ValeCtlError(ACTION.remove, name, e.code, e.message);
    throw e;
  }
  return true;
}

/** vale-ctl -v: a line per vhost-user port of the daemon, if one answers. */
async function vhostListing(io: ValeCtlOutput): Promise<void> {
  let ports: VhostPortInfo[];
  try {
    ports = (await daemonCall({ cmd: 'vhost-list' }, { autostart: false, note: () => {} })).ports as VhostPortInfo[];
  } catch {
    return;
  }
  for (const p of ports) {
    const q = p.queues.map((x) => `${x.dir}${x.index >> 1} ${x.running ? 'running' : x.broken ? 'STOPPED' : 'idle'} size ${x.size} packets ${x.packets} bytes ${x.bytes} drops ${x.drops} kicks ${x.kicks} interrupts ${x.interrupts}`);
    io.out(`${p.name} ${p.kind ?? 'vhost-user'} ${p.path} ${p.connected ? 'connected' : 'not connected'} ${p.switch ? `attached ${p.switch}:${p.name}` : 'not attached'}${p.polling ? ` polling${p.polling.cpu !== null ? ` cpu ${p.polling.cpu}` : ''}` : ''}${(p.queuePairs ?? 1) > 1 ? ` queue_pairs ${p.queuePairs}` : ''}${p.offloads ? ' offloads' : ''} features ${p.features.join(',') || '-'} unattached_drops ${p.noPortDrops}; ${q.join('; ')}`);
  }
}
