// What the daemon keeps, apart from any socket: the ports it holds open for clients, the Linux
// interfaces it keeps attached to switches (Attachments, one forwarder thread per switch), and the
// reclaim passes over the shared files. Every request of the protocol is one method here,
// taking arguments already validated (args.ts) and the caller (for the log and `by`), so a
// test drives it without a socket; the server (server.ts) only carries lines to and from it.
// `view()` is the read-only picture (switches and their ports, held ports, attachments with
// their counters) that a status page or a metrics exporter reads.
import { readFileSync } from 'node:fs';
import { listSwitches, NetmapError, open, ValePort, type OpenOptions, type Port, type SwitchInfo, type PortStats } from '../../index.js';
import { taskAlive } from '../../core/lock.js';
import { reclaimAll, regionPath } from '../../core/shm.js';
import { Attachments, pollingPlan, type AttachmentInfo, type PollingRequest, type RingConf } from '../vale-attach/vale-attach.js';
import { canonicalPort, refuseInterface } from './args.js';
import { addStaticFdb, deleteStaticFdb, fdbView, type FdbView } from '../../ports/vxlan/fdb-admin.js';
import { validVxlanName } from '../../ports/vxlan/config.js';
import { VhostPorts, qemuArgs, type VhostPortInfo, type VmPortKind, type VmRingConf } from '../vhost-user/manager.js';

/** Who connected (SO_PEERCRED at connect time). */
export interface PeerCred {
  pid: number | 'unknown';
  uid: number | 'unknown';
  gid: number | 'unknown';
}

/** Who makes a request: a connection number and its peer. */
export interface Caller {
  id: number | string;
  peer: PeerCred;
}

export function callerText(c: Caller): string {
  return `conn#${c.id} pid=${c.peer.pid} uid=${c.peer.uid}`;
}

export interface HeldPort {
  /** Canonical port name ('vale0:p1'). */
  port: string;
  /** Switch name for VALE ports, else null. */
  switch: string | null;
  /** Index on the switch for VALE ports, else null. */
  index: number | null;
  /** When the daemon opened it (ISO time). */
  since: string;
  /** Who asked for it. */
  by: PeerCred;
}

export interface ReclaimResult {
  /** Openers (threads or processes that died with the port open) reclaimed. */
  reclaimed: number;
  /** Ports destroyed because their last opener was reclaimed. */
  ports: string[];
  /** Shared files removed because the reclaim left them empty. */
  removed: string[];
}

/** The read-only picture of the daemon and the switches it sees. */
export interface DaemonView {
  pid: number;
  version: string;
  uptimeSec: number;
  /** Every switch in the shared files, with its ports, openers and counters. */
  switches: SwitchInfo[];
  /** Ports this daemon holds. */
  held: HeldPort[];
  /** Interfaces attached to switches, with their forwarders' counters. */
  attachments: AttachmentInfo[];
}

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * One pass over the shared files: ports whose openers died are released (destroyed when
 * none is left), and a file this pass left empty is removed, as the last close() would have
 * (a file this user may not remove stays, empty and usable: see retireRegion).
 */
export function reclaimDeadPorts(): ReclaimResult {
  // try-lock only: a file whose lock a live task holds waits for the next pass, and the
  // event loop never waits for a shared-file lock
  const r = reclaimAll(taskAlive, { lockWaitMs: 0 });
  return { reclaimed: r.openers, ports: r.ports, removed: r.retired.map(regionPath) };
}

interface Held { port: Port; info: HeldPort }

export class DaemonState {
  private readonly held = new Map<string, Held>();
  private readonly attachments: Attachments;
  /** vhost-user ports (vale-ctl -n NAME --vhost-user PATH), one thread each. */
  private readonly vhost: VhostPorts;
  private readonly started = Date.now();
  private shuttingDown = false;
  /** What the reclaim passes did since the start (the daemon's metrics). */
  readonly reclaimTotals = { passes: 0, openers: 0, ports: 0, files: 0 };

  /**
   * `emit` receives one event per change (a log line without its prefix); `changed` runs
   * when an attachment goes away by itself (its forwarder failed).
   */
  constructor(private readonly emit: (event: string) => void, changed: () => void = () => {}) {
    this.attachments = new Attachments((event) => emit(event), changed);
    this.vhost = new VhostPorts((event) => emit(event));
  }

  /** Nothing held and nothing attached. */
  get empty(): boolean {
    return this.held.size === 0 && this.attachments.size === 0 && this.vhost.size === 0;
  }

  get heldCount(): number { return this.held.size; }
  get attachedCount(): number { return this.attachments.size; }

  ping(): { version: string; pid: number; uptimeSec: number } {
    return { version: packageVersion(), pid: process.pid, uptimeSec: this.uptimeSec() };
  }

  private uptimeSec(): number {
    return Math.round((Date.now() - this.started) / 100) / 10;
  }

  /** Run a reclaim pass and log what it did. */
  reclaim(why: string): ReclaimResult {
    const r = reclaimDeadPorts();
    const t = this.reclaimTotals;
    t.passes++;
    t.openers += r.reclaimed;
    t.ports += r.ports.length;
    t.files += r.removed.length;
    if (r.reclaimed) {
      this.emit(`reclaimed ${r.reclaimed} opener(s) of dead processes (${why})${r.ports.length ? `: destroyed ${r.ports.join(' ')}` : ''}${r.removed.length ? `; removed ${r.removed.join(' ')}` : ''}`);
    }
    return r;
  }

  list(): { switches: SwitchInfo[] } {
    this.reclaim('list');
    return { switches: listSwitches() };
  }

  hold(name: string, conf: OpenOptions, by: Caller): { port: string; index: number | null; already: boolean } {
    const key = canonicalPort(name);
    const have = this.held.get(key);
    if (have) return { port: key, index: have.info.index, already: true };
    this.refuseWhileClosing();
    refuseInterface(name);
    const port: Port = open(name, conf); // errors go back to the caller
    const vale = port instanceof ValePort ? port : null;
    const info: HeldPort = {
      port: key, switch: vale ? vale.spec.switchName : null, index: vale ? vale.portIndex : null,
      since: new Date().toISOString(), by: by.peer,
    };
    this.held.set(key, { port, info });
    this.emit(`${callerText(by)}: hold ${key}${info.index !== null ? ` (index ${info.index})` : ''}`);
    return { port: key, index: info.index, already: false };
  }

  release(name: string, by: Caller): { port: string } {
    const key = canonicalPort(name);
    const h = this.held.get(key);
    if (!h) throw new NetmapError('ENOENT', `${key} is not held by this daemon (see 'held')`);
    this.held.delete(key);
    h.port.close();
    this.emit(`${callerText(by)}: release ${key}`);
    return { port: key };
  }

  heldPorts(): HeldPort[] {
    return [...this.held.values()].map((h) => h.info);
  }

  stats(name: string): { port: string; switch: string | null; index: number | null; openers: unknown; stats: PortStats | SwitchInfo['ports'][number]['stats'] } {
    const key = canonicalPort(name);
    this.reclaim('stats');
    for (const sw of listSwitches()) {
      for (const p of sw.ports) if (p.name === key) return { port: key, switch: sw.name, index: p.index, openers: p.openers, stats: p.stats };
    }
    const h = this.held.get(key);
    if (h) return { port: key, switch: null, index: null, openers: null, stats: h.port.stats() };
    throw new NetmapError('ENOENT', `no port ${key} (stats covers VALE ports and ports held by this daemon)`);
  }

  async attach(port: string, host: boolean, conf: RingConf, by: Caller): Promise<AttachmentInfo> {
    this.refuseWhileClosing();
    const vm = this.vhostTarget(port);
    if (vm) {
      if (host) throw new NetmapError('EINVAL', `${vm.name} is a vhost-user port: it has no host stack (-a, not -h)`);
      const v = await this.vhost.attach(vm.name, vm.sw);
      this.emit(`${callerText(by)}: attach vhost-user port ${vm.name} to ${vm.sw} (index ${v.index})`);
      return vmAttachment(v, vm.sw, by);
    }
    const a = await this.attachments.attach(port, { host, conf, by: by.peer });
    this.emit(`${callerText(by)}: attach ${a.interface} to ${a.switch}: ${a.port} (index ${a.index})${a.hostPort ? `, ${a.hostPort} (index ${a.hostIndex})` : ''}; ${a.lines[0] ?? a.backend}; forwarder thread ${a.thread}${a.sharedWith.length ? ` (also serving ${a.sharedWith.join(', ')})` : ''}`);
    return a;
  }

  async detach(port: string, by: Caller): Promise<string[]> {
    const vm = this.vhostTarget(port);
    if (vm) {
      const p = await this.vhost.detach(vm.name);
      this.emit(`${callerText(by)}: detach ${p}`);
      return [p];
    }
    const ports = await this.attachments.detach(port);
    this.emit(`${callerText(by)}: detach ${ports.join(' ')}`);
    return ports;
  }

  async polling(port: string, request: PollingRequest | null, enable: boolean, by: Caller): Promise<AttachmentInfo> {
    if (!enable && request) throw new NetmapError('EINVAL', `'mode', 'firstCpu' and 'numCpus' apply when enabling polling`);
    const vm = this.vhostTarget(port);
    if (vm) {
      const v = await this.vhost.polling(vm.name, vm.sw, enable ? pollingPlan(request) : null);
      this.emit(`${callerText(by)}: polling ${enable ? 'on' : 'off'} ${vm.sw}:${vm.name}${v.polling ? ` (${v.polling.note})` : ''}`);
      return vmAttachment(v, vm.sw, by);
    }
    const a = await this.attachments.polling(port, request, enable);
    this.emit(`${callerText(by)}: polling ${enable ? 'on' : 'off'} ${a.port}${a.polling ? ` (${a.polling.note})` : ''}`);
    return a;
  }

  /** valeX:NAME naming a vhost-user port of this daemon, else null. */
  private vhostTarget(port: string): { sw: string; name: string } | null {
    const m = /^(vale[A-Za-z0-9_]*):(.+)$/.exec(port);
    return m && this.vhost.has(m[2]) ? { sw: m[1], name: m[2] } : null;
  }

  async vhostCreate(name: string, path: string, by: Caller, kind: VmPortKind = 'vhost-user', ring: VmRingConf = {}): Promise<VhostPortInfo & { qemu: string[] }> {
    this.refuseWhileClosing();
    const info = await this.vhost.create(name, path, 256, kind, ring);
    this.emit(`${callerText(by)}: create ${kind} port ${name} on ${path}${info.queuePairs > 1 ? ` (${info.queuePairs} queue pairs)` : ''}`);
    return { ...info, qemu: qemuArgs(path, undefined, kind, info.queuePairs) };
  }

  async vhostRemove(name: string, by: Caller): Promise<void> {
    await this.vhost.remove(name);
    this.emit(`${callerText(by)}: remove vhost-user port ${name}`);
  }

  vhostList(): VhostPortInfo[] {
    return this.vhost.list();
  }

  attached(): AttachmentInfo[] {
    return this.attachments.list();
  }

  /** vxlan-fdb-add: a static entry `MAC@VTEP` for VXLAN port `name` (as vale-ctl --vxlan-fdb). */
  vxlanFdbAdd(name: string, entry: string, by: Caller): { port: string; mac: string; dst: string } {
    const e = addStaticFdb(vxlanName(name), entry);
    this.emit(`${callerText(by)}: vxlan-fdb-add ${name} ${e.mac}@${e.dst}`);
    return { port: name, mac: e.mac, dst: e.dst };
  }

  /** vxlan-fdb-del: remove the static entries matching `MAC` or `MAC@VTEP` (as vale-ctl --vxlan-fdb-del). */
  vxlanFdbDel(name: string, selector: string, by: Caller): { port: string; mac: string; dst: string | null } {
    const e = deleteStaticFdb(vxlanName(name), selector);
    this.emit(`${callerText(by)}: vxlan-fdb-del ${name} ${e.mac}${e.dst ? `@${e.dst}` : ''}`);
    return { port: name, mac: e.mac, dst: e.dst || null };
  }

  /** vxlan-fdb-show: the table in force (open), or the static entries it opens with. */
  vxlanFdbShow(name: string): FdbView & { port: string } {
    return { port: name, ...fdbView(vxlanName(name)) };
  }

  /** The read-only picture: reads the shared files, changes nothing (no reclaim pass). */
  view(): DaemonView {
    return {
      pid: process.pid, version: packageVersion(), uptimeSec: this.uptimeSec(),
      switches: listSwitches(), held: this.heldPorts(), attachments: this.attachments.list(),
    };
  }

  private refuseWhileClosing(): void {
    if (this.shuttingDown) throw new NetmapError('ESHUTDOWN', 'the daemon is shutting down');
  }

  /** Detach every interface and release every held port; later hold/attach fail with ESHUTDOWN. */
  async close(): Promise<{ detached: string[]; released: string[] }> {
    this.shuttingDown = true;
    let detached: string[] = [];
    try {
      detached = await this.attachments.closeAll();
    } catch (e) {
      this.emit(`detaching failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    try {
      detached.push(...await this.vhost.closeAll());
    } catch (e) {
      this.emit(`removing vhost-user ports failed: ${e instanceof Error ? e.message : String(e)}`);
    }
    const released: string[] = [];
    for (const [key, h] of this.held) {
      try {
        h.port.close();
        released.push(key);
      } catch (e) {
        this.emit(`release ${key} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    this.held.clear();
    return { detached, released };
  }
}

/** A VXLAN port's name as the FDB commands take it (EINVAL naming the rule). */
function vxlanName(name: string): string {
  if (!validVxlanName(name)) throw new NetmapError('EINVAL', `'${name}' is not a VXLAN port name (vale-ctl -n NAME --vxlan ...: 1 to 15 letters, digits, '_' or '.')`);
  return name;
}

/** A VM port's attachment as -a and -p report it (its queue counters are in vale-ctl -v: no kernel socket). */
function vmAttachment(v: VhostPortInfo, sw: string, by: Caller): AttachmentInfo {
  const zero = (): { packets: number; bytes: number; drops: number } => ({ packets: 0, bytes: 0, drops: 0 });
  return {
    port: `${sw}:${v.name}`, interface: v.name, switch: sw, index: v.index ?? -1, hostPort: null, hostIndex: null,
    backend: 'vhost-user', lines: [`vhost-user port ${v.name} (socket ${v.path})`], thread: -1, sharedWith: [], polling: v.polling, since: new Date().toISOString(), by: by.peer,
    counters: { nicToSwitch: zero(), switchToNic: zero(), hostToSwitch: zero(), switchToHost: zero() },
    kernelDrops: { rxRingFull: 0, rxOther: 0, txInvalid: 0, host: 0 },
  };
}
