// Metrics of every VALE switch, read from the shared files: per switch and port, packets and
// bytes each way, drops by cause, learned MACs, ring occupancy; and rates from the difference
// between two snapshots.
//
// The reader never takes a lock and never writes: not the rings' producer locks (the data
// path), not a region's config lock (so a stuck or hostile opener cannot stall a scrape), and
// it does not reclaim or mark anything. It only loads words that have a single writer each
// (core/layout.ts RR.*) and validates every value it reads before following it, like every
// other reader of the shared files (portRecordProblem, ringRecordProblem, switchProblem). A
// record changes under a lock-free reader when a port is created or destroyed meanwhile: its
// generation is read before and after, and a record whose generation moved is left out of
// this snapshot silently (it was being changed, not damaged); a stable record that fails a
// check is left out and described in `problems`.
//
// Drop causes, each counted where the drop happens:
//   tx  undelivered  frames this port sent that reached no destination: a full destination
//                    ring, a destination that was unusable or locked too long, no destination
//                    (lookup said drop, frame under 14 bytes, back to the sender)
//                    (RR.txDrops - RR.txBadVnet)
//   tx  bad_vnet_hdr frames this port sent that the switch refused to convert for a port with
//                    another virtio-net header length: a malformed header, a frame over 64 KiB,
//                    a super-frame that cannot be segmented (RR.txBadVnet; vale/offload.ts)
//   rx  ring_full    frames for this port that found its rx ring full (RR.drops - RR.badSlots)
//   rx  bad_slot     frames for this port dropped because a slot or the ring's geometry was
//                    damaged (RR.badSlots)
//   monitor monitor_full  frames a monitor of this port had no room for (its rings' RR.drops)
import { NM_BDG_HASH, NM_BDG_MAXPORTS } from '../core/constants.js';
import { DIR, DirType, PR, RR, SW, SW_FLAG_RSS } from '../core/layout.js';
import { PR_STATE_ACTIVE, portRecordProblem, ringRecordProblem } from '../core/records.js';
import type { Region } from '../core/region.js';
import { forgetRegion, regionsInDir, type SkippedFile } from '../core/shm.js';
import { switchProblem } from './switch.js';

export interface RingMetrics {
  ring: number;
  direction: 'tx' | 'rx';
  /** Slots of the ring (it holds at most slots - 1 frames). */
  slots: number;
  /** Slots holding frames not yet given back: rx, received and not released; tx, handed to the sync and not consumed. */
  occupancy: number;
  packets: number;
  bytes: number;
  /** tx: undelivered + badVnetHdr; rx: ringFull + badSlot. */
  drops: number;
  ringFull: number;
  badSlot: number;
  /** tx: refused for a malformed virtio-net header (of drops). */
  badVnetHdr: number;
}

export interface PortDrops {
  /** Sent, not delivered (tx). */
  undelivered: number;
  /** Sent, refused for a malformed virtio-net header (tx). */
  badVnetHdr: number;
  /** Received, rx ring full. */
  ringFull: number;
  /** Received, damaged slot or ring (the port's and its monitors'). */
  badSlot: number;
  /** Monitors of the port that had no room. */
  monitorFull: number;
}

export interface PortMetrics {
  switch: string;
  /** The port's full name (valeX:Y). */
  port: string;
  /** Port index on the switch. */
  index: number;
  /** Record generation: changes when a port of the same name is created again. */
  gen: number;
  openers: number;
  monitors: number;
  learnedMacs: number;
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  drops: PortDrops;
  rings: RingMetrics[];
}

export interface SwitchMetrics {
  name: string;
  file: string;
  rss: boolean;
  /** The registered lookup's name, or null for MAC learning. */
  lookup: string | null;
  learnedMacs: number;
  ports: PortMetrics[];
}

export interface MetricsSnapshot {
  /** When it was read (ms since the epoch, and a monotonic ms clock for rates). */
  time: number;
  mono: number;
  switches: SwitchMetrics[];
  /** Files not read (untrusted, unreadable, damaged), with the reason. */
  skipped: SkippedFile[];
  /** Damaged records left out of the files read. */
  problems: string[];
}

const dist = (a: number, b: number, n: number): number => (b >= a ? b - a : b + n - a);

/** Counters of one ring, or a problem; 'moving' when the record changed while it was read. */
function readRing(region: Region, r: number, i: number, rx: boolean): RingMetrics | string | 'moving' {
  const bad = ringRecordProblem(region, r);
  if (bad) return bad;
  const u32 = region.u32, f = region.f64;
  const gen = Atomics.load(u32, (r + RR.gen) >> 2);
  if (gen === 0) return 'moving';
  const n = u32[(r + RR.numSlots) >> 2];
  const hwcur = Atomics.load(u32, (r + RR.hwcur) >> 2);
  const end = rx ? Atomics.load(u32, (r + RR.prod) >> 2) : Atomics.load(u32, (r + RR.head) >> 2);
  const m: RingMetrics = {
    ring: i, direction: rx ? 'rx' : 'tx', slots: n,
    occupancy: hwcur < n && end < n ? dist(hwcur, end, n) : 0,
    packets: 0, bytes: 0, drops: 0, ringFull: 0, badSlot: 0, badVnetHdr: 0,
  };
  if (rx) {
    m.packets = f[(r + RR.delivered) >> 3];
    m.bytes = f[(r + RR.rxBytes) >> 3];
    m.drops = f[(r + RR.drops) >> 3];
    m.badSlot = Math.min(f[(r + RR.badSlots) >> 3], m.drops);
    m.ringFull = m.drops - m.badSlot;
  } else {
    m.packets = f[(r + RR.txPkts) >> 3];
    m.bytes = f[(r + RR.txBytes) >> 3];
    m.drops = f[(r + RR.txDrops) >> 3];
    m.badVnetHdr = Math.min(f[(r + RR.txBadVnet) >> 3], m.drops);
  }
  // counters are float64 written by one party: anything but a finite count is damage
  for (const v of [m.packets, m.bytes, m.drops]) if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER)) return `counter ${v}`;
  if (Atomics.load(u32, (r + RR.gen) >> 2) !== gen) return 'moving';
  return m;
}

/** The rings of a port record (validated), or a problem / 'moving'. */
function readRings(region: Region, rec: number): RingMetrics[] | string | 'moving' {
  const bad = portRecordProblem(region, rec);
  if (bad) return bad;
  const u32 = region.u32;
  const ntx = u32[(rec + PR.ntx) >> 2], nrx = u32[(rec + PR.nrx) >> 2];
  const rings: RingMetrics[] = [];
  for (let i = 0; i < ntx + nrx; i++) {
    const r = u32[((rec + PR.ringsOfs) >> 2) + i];
    if (r === 0) return 'moving'; // being created
    const m = readRing(region, r, i < ntx ? i : i - ntx, i >= ntx);
    if (typeof m === 'string') return m === 'moving' ? m : `${i < ntx ? 'tx' : 'rx'} ring ${i < ntx ? i : i - ntx}: ${m}`;
    rings.push(m);
  }
  return rings;
}

/** The name in a port record's directory entry, if that entry designates this record. */
function recordName(region: Region, rec: number, gen: number): string | null {
  const u32 = region.u32;
  const d = u32[(rec + PR.dirOfs) >> 2];
  if (!region.isDirEntry(d) || region.dirEntryProblem(d)) return null;
  if (u32[(d + DIR.recOfs) >> 2] !== rec || u32[(d + DIR.gen) >> 2] !== gen) return null;
  return region.readName(d + DIR.name, u32[(d + DIR.nameLen) >> 2]);
}

/** Learned MAC entries per port index (and in total) of a switch's table. */
function learned(region: Region, sw: number, perPort: Uint32Array): number {
  const u32 = region.u32, tab = (sw + SW.macTable) >> 2;
  perPort.fill(0);
  let total = 0;
  for (let h = 0; h < NM_BDG_HASH; h++) {
    const v = u32[tab + 2 * h + 1];
    if (!(v & 0x1000000)) continue;
    const p = (v >>> 16) & 0xff;
    if (p < NM_BDG_MAXPORTS) { perPort[p]++; total++; }
  }
  return total;
}

const macs = new Uint32Array(256);

function readSwitch(region: Region, name: string, sw: number, problems: string[]): SwitchMetrics | null {
  const bad = switchProblem(region, sw);
  if (bad) { problems.push(`${region.label}: switch ${name}: ${bad}; skipped`); return null; }
  const u32 = region.u32;
  const lookupLen = u32[(sw + SW.lookupNameLen) >> 2];
  const s: SwitchMetrics = {
    name, file: region.path,
    rss: (u32[(sw + SW.flags) >> 2] & SW_FLAG_RSS) !== 0,
    lookup: u32[(sw + SW.lookupId) >> 2] && lookupLen ? region.readName(sw + SW.lookupName, Math.min(lookupLen, 63)) : null,
    learnedMacs: learned(region, sw, macs),
    ports: [],
  };
  for (let i = 0; i < NM_BDG_MAXPORTS; i++) {
    const rec = Atomics.load(u32, ((sw + SW.ports) >> 2) + i);
    if (rec === 0) continue;
    if (!region.isObj(rec, PR.ringsOfs)) { problems.push(`${region.label}: switch ${name} port ${i}: record offset ${rec} outside the object area; skipped`); continue; }
    const gen = Atomics.load(u32, (rec + PR.gen) >> 2);
    if (gen === 0 || Atomics.load(u32, (rec + PR.state) >> 2) !== PR_STATE_ACTIVE) continue; // being created or destroyed (or marked corrupt: reported by listings)
    const rings = readRings(region, rec);
    const portName = recordName(region, rec, gen);
    const stable = Atomics.load(u32, (rec + PR.gen) >> 2) === gen && Atomics.load(u32, ((sw + SW.ports) >> 2) + i) === rec;
    if (!stable || rings === 'moving') continue;
    if (typeof rings === 'string' || portName === null) {
      problems.push(`${region.label}: switch ${name} port ${i}: ${typeof rings === 'string' ? rings : 'no directory entry for the record'}; skipped`);
      continue;
    }
    const p: PortMetrics = {
      switch: name, port: portName, index: i, gen,
      openers: Math.min(u32[(rec + PR.refs) >> 2], 1 << 16),
      monitors: 0, learnedMacs: macs[i],
      rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0,
      drops: { undelivered: 0, badVnetHdr: 0, ringFull: 0, badSlot: 0, monitorFull: 0 },
      rings,
    };
    for (const r of rings) {
      if (r.direction === 'rx') { p.rxPackets += r.packets; p.rxBytes += r.bytes; p.drops.ringFull += r.ringFull; p.drops.badSlot += r.badSlot; }
      else { p.txPackets += r.packets; p.txBytes += r.bytes; p.drops.undelivered += r.drops - r.badVnetHdr; p.drops.badVnetHdr += r.badVnetHdr; }
    }
    s.ports.push(p);
  }
  return s;
}

/** Add the drops of every monitor in the region to the port it monitors. */
function addMonitors(region: Region, ports: Map<number, PortMetrics>, problems: string[]): void {
  const u32 = region.u32;
  for (const [name, rec] of region.dirList(DirType.Monitor, problems)) {
    const gen = Atomics.load(u32, (rec + PR.gen) >> 2);
    if (gen === 0 || Atomics.load(u32, (rec + PR.state) >> 2) !== PR_STATE_ACTIVE) continue;
    const target = u32[(rec + PR.link) >> 2];
    const p = ports.get(target);
    if (!p || u32[(rec + PR.index) >> 2] !== p.gen) continue; // a port that is gone (or not a switch port)
    const rings = readRings(region, rec);
    if (Atomics.load(u32, (rec + PR.gen) >> 2) !== gen || rings === 'moving') continue;
    if (typeof rings === 'string') { problems.push(`${region.label}: monitor ${name}: ${rings}; skipped`); continue; }
    p.monitors++;
    for (const r of rings) {
      if (r.direction !== 'rx') continue;
      p.drops.monitorFull += r.ringFull;
      p.drops.badSlot += r.badSlot;
    }
  }
}

/** Read the switches of one mapped region (no lock taken). */
export function readRegionMetrics(region: Region, problems: string[]): SwitchMetrics[] {
  const out: SwitchMetrics[] = [];
  const byRec = new Map<number, PortMetrics>();
  for (const [name, sw] of region.dirList(DirType.Switch, problems)) {
    const s = readSwitch(region, name, sw, problems);
    if (!s) continue;
    out.push(s);
    const u32 = region.u32;
    for (const p of s.ports) byRec.set(u32[((sw + SW.ports) >> 2) + p.index], p);
  }
  if (byRec.size) addMonitors(region, byRec, problems);
  return out;
}

/**
 * A snapshot of every switch in the shared files (NMTS_SHM_DIR): a pure reading of them, with
 * the files it could not read and the records it left out. Switches sorted by name, ports by index.
 */
export function readMetrics(): MetricsSnapshot {
  const snap: MetricsSnapshot = { time: Date.now(), mono: performance.now(), switches: [], skipped: [], problems: [] };
  for (const { region } of regionsInDir(snap.skipped, (key) => !key.startsWith('pipe.'))) {
    if (region.dead) { forgetRegion(region); continue; }
    snap.switches.push(...readRegionMetrics(region, snap.problems));
  }
  snap.switches.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const s of snap.switches) s.ports.sort((a, b) => a.index - b.index);
  return snap;
}

/** Per-port rates between two snapshots (per second). */
export interface PortRates {
  switch: string;
  port: string;
  rxPps: number;
  txPps: number;
  rxBps: number;
  txBps: number;
  /** All drop causes together, per second. */
  dropsPs: number;
  /** Total drops so far (all causes). */
  drops: number;
}

export function totalDrops(p: PortMetrics): number {
  return p.drops.undelivered + p.drops.badVnetHdr + p.drops.ringFull + p.drops.badSlot + p.drops.monitorFull;
}

/**
 * Rates of every port of `cur`, from its counters' growth since `prev` (a port new since
 * `prev`, or created again under the same name, counts from zero). Sorted by total packet
 * rate, highest first.
 */
export function portRates(prev: MetricsSnapshot | null, cur: MetricsSnapshot): PortRates[] {
  const before = new Map<string, PortMetrics>();
  if (prev) for (const s of prev.switches) for (const p of s.ports) before.set(`${s.name}\0${p.port}`, p);
  const dt = prev ? (cur.mono - prev.mono) / 1000 : 0;
  const out: PortRates[] = [];
  for (const s of cur.switches) {
    for (const p of s.ports) {
      const b = before.get(`${s.name}\0${p.port}`);
      const same = b !== undefined && b.gen === p.gen;
      const rate = (now: number, was: number | undefined): number => {
        if (!(dt > 0)) return 0;
        const d = now - (same && was !== undefined ? was : 0);
        return d > 0 ? d / dt : 0;
      };
      out.push({
        switch: s.name, port: p.port,
        rxPps: rate(p.rxPackets, b?.rxPackets), txPps: rate(p.txPackets, b?.txPackets),
        rxBps: rate(p.rxBytes, b?.rxBytes), txBps: rate(p.txBytes, b?.txBytes),
        dropsPs: rate(totalDrops(p), b ? totalDrops(b) : undefined),
        drops: totalDrops(p),
      });
    }
  }
  return out.sort((x, y) => y.rxPps + y.txPps - (x.rxPps + x.txPps) || (x.port < y.port ? -1 : x.port > y.port ? 1 : 0));
}

/** One entry of a switch's MAC table: a MAC and the index of the port it was last seen on. */
export interface LearnedMac {
  mac: string;
  index: number;
}

export interface MacTables {
  time: number;
  /** Each switch's learned MACs, sorted by port index then MAC. */
  switches: { name: string; macs: LearnedMac[] }[];
  skipped: SkippedFile[];
  problems: string[];
}

const hex2 = (b: number): string => (b < 16 ? '0' : '') + b.toString(16);

/** The valid entries of one switch's MAC table (entry h = [lo, hi16 | port << 16 | valid << 24]). */
function macTable(region: Region, sw: number): LearnedMac[] {
  const u32 = region.u32, tab = (sw + SW.macTable) >> 2;
  const out: LearnedMac[] = [];
  for (let h = 0; h < NM_BDG_HASH; h++) {
    const v = u32[tab + 2 * h + 1];
    if (!(v & 0x1000000)) continue;
    const index = (v >>> 16) & 0xff;
    if (index >= NM_BDG_MAXPORTS) continue;
    const lo = u32[tab + 2 * h];
    out.push({ mac: [lo & 0xff, (lo >>> 8) & 0xff, (lo >>> 16) & 0xff, lo >>> 24, v & 0xff, (v >>> 8) & 0xff].map(hex2).join(':'), index });
  }
  return out.sort((a, b) => a.index - b.index || (a.mac < b.mac ? -1 : a.mac > b.mac ? 1 : 0));
}

/**
 * Every switch's learned MACs (the dashboard's port detail), read like readMetrics: no lock,
 * nothing written. An entry being overwritten meanwhile may show its old or new MAC.
 */
export function readMacTables(): MacTables {
  const t: MacTables = { time: Date.now(), switches: [], skipped: [], problems: [] };
  for (const { region } of regionsInDir(t.skipped, (key) => !key.startsWith('pipe.'))) {
    if (region.dead) { forgetRegion(region); continue; }
    for (const [name, sw] of region.dirList(DirType.Switch, t.problems)) {
      const bad = switchProblem(region, sw);
      if (bad) { t.problems.push(`${region.label}: switch ${name}: ${bad}; skipped`); continue; }
      t.switches.push({ name, macs: macTable(region, sw) });
    }
  }
  t.switches.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return t;
}
