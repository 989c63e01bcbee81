/**
 * `npm run bench -- --vms`: issue #11's VM targets, every row in one run on this machine, each
 * against DPDK's own vhost-user back end (testpmd `net_vhost`) with the same front end and options:
 *
 *   ref-rx      virtio_user txonly -> net_vhost rxonly            (the reference: Rx-pps of the back end)
 *   vm-rx       virtio_user txonly -> pkt-gen -f rx -i netmap:vm1 (pkt-gen's own per-second counts)
 *   ref-tx      net_vhost txonly -> virtio_user rxonly            (Rx-pps of the front end)
 *   vm-tx       pkt-gen -f tx -i netmap:vm1 -> virtio_user rxonly (Rx-pps of the front end)
 *   vm-switch   virtio_user txonly -> vm1 (the daemon's thread) -> VALE -> pkt-gen -f rx
 *   vm-switch-p the same with the port's thread busy-polling (vale-ctl -p valeX:vm1)
 *   guest-ref   a TCG guest's pktgen -> net_vhost rxonly           (the guest's own pps)
 *   guest-vm    a TCG guest's pktgen -> pkt-gen -f rx -i netmap:vm1 (the guest's own pps)
 *
 * The front end is testpmd with a virtio_user port (`--no-huge`, busy-polling, its forwarding
 * lcore on CPU 0); the back ends' forwarding thread goes on CPU 1 (testpmd's lcore 1, pkt-gen -a 1);
 * vm-switch has three busy threads on the two cores. Ratios are printed as the targets name them.
 * The guest rows need QEMU and the test guest (scripts/build-test-guest.sh), else they are skipped
 * with a note. Rates are averaged over the measured window only (after --warmup). With
 * --rounds N every selected row runs N times, the rows in turn within a round (this machine's
 * speed changes from minute to minute), and the summary gives min / median / max of each rate
 * and of each ratio, a ratio being taken against its reference in the same round.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { spread, type Spread } from './spread.js';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonRequest, runDaemon } from '../src/apps/daemon/daemon.js';
import { Guest, guestSkip } from '../test/fixtures/guest.js';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const NMTS = join(ROOT, 'bin/nmts.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface VmsOptions {
  durationMs: number; warmupMs: number; json: boolean; only?: string[];
  /** Rounds of all selected rows, one after the other (ratios taken within a round); 1 by default. */
  rounds?: number;
}

interface Proc { child: ChildProcess; out: () => string; exited: Promise<void> }

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  child.stderr!.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  return { child, out: () => text, exited: new Promise((r) => child.once('exit', () => r())) };
}

async function stop(p: Proc | null): Promise<void> {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGINT');
  const t = setTimeout(() => p.child.kill('SIGKILL'), 5000);
  await p.exited;
  clearTimeout(t);
}

async function until(what: string, f: () => boolean, ms = 20_000, why: () => string = () => ''): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}${why() ? `\n${why().slice(-1500)}` : ''}`);
    await sleep(20);
  }
}

let prefixes = 0;
const TESTPMD = ['-l', '0-1', '--no-huge', '-m', '512', '--no-pci'];
const FWD = ['--total-num-mbufs=16384', '--stats-period', '1'];

/** testpmd's net_vhost back end listening on `sock`, forwarding on lcore 1. */
// stdbuf: testpmd's statistics reach the pipe as printed, not a 4 KiB buffer later
function netVhost(sock: string, mode: 'rxonly' | 'txonly'): Proc {
  return run('stdbuf', ['-oL', 'dpdk-testpmd', ...TESTPMD, `--file-prefix=nmtsvb${process.pid}-${prefixes++}`, '--vdev', `net_vhost0,iface=${sock},client=0`, '--', `--forward-mode=${mode}`, ...FWD]);
}

/** testpmd's virtio_user front end on `sock`, forwarding on lcore 0. */
function virtioUser(sock: string, mode: 'rxonly' | 'txonly'): Proc {
  return run('stdbuf', ['-oL', 'dpdk-testpmd', ...TESTPMD, '--main-lcore', '1', `--file-prefix=nmtsvf${process.pid}-${prefixes++}`, '--vdev', `virtio_user0,path=${sock},queues=1`,
    '--', `--forward-mode=${mode}`, ...FWD, ...(mode === 'rxonly' ? ['--no-flush-rx'] : [])]);
}

/** Mean of testpmd's "Rx-pps:" (or "Tx-pps:") figures printed in `text` (testpmd times them itself). */
function testpmdPps(text: string, key: 'Rx-pps' | 'Tx-pps'): number {
  const v = [...text.matchAll(new RegExp(`${key}:\\s+(\\d+)`, 'g'))].map((m) => Number(m[1]));
  if (v.length === 0) throw new Error(`testpmd printed no ${key} in the measured window`);
  return v.reduce((a, b) => a + b, 0) / v.length;
}

const UNIT: Record<string, number> = { '': 1, K: 1e3, M: 1e6, G: 1e9 };
/** pkt-gen's per-second lines in `text`: packets over microseconds. */
function pktgenPps(text: string): number {
  let pkts = 0, us = 0;
  for (const m of text.matchAll(/\(([\d.]+) ([KMG]?)pkts [^)]* in (\d+) usec\)/g)) {
    pkts += Number(m[1]) * UNIT[m[2]];
    us += Number(m[3]);
  }
  if (us === 0) throw new Error(`pkt-gen printed no rate in the measured window`);
  return pkts / (us / 1e6);
}

/** testpmd's statistics show frames moving (a non-zero pps). */
const TESTPMD_MOVING = /[RT]x-pps:\s+[1-9]/;
/** pkt-gen's per-second line shows frames moving. */
const PKTGEN_MOVING = /main_thread [1-9][\d.]* [KMG]?pps/;

/**
 * Once `meter` shows frames moving, wait out the warm-up, then measure: `rate` reads what
 * `meter` printed during the window.
 */
async function window(o: VmsOptions, meter: Proc, rate: (text: string) => number, moving: RegExp, edge?: () => Promise<void>): Promise<number> {
  await until('frames moving', () => moving.test(meter.out()), 30_000, meter.out);
  await sleep(o.warmupMs);
  await edge?.();
  const from = meter.out().length;
  await sleep(o.durationMs);
  await edge?.();
  // a busy machine may delay a periodic print past the window: then the next one (its pps covers
  // the time since the one before)
  for (let i = 0; i < 100; i++) {
    try { return rate(meter.out().slice(from)); } catch (e) { if (i === 99) throw e; }
    await sleep(100);
  }
  return 0;
}

interface Ctx { dir: string; daemonSock: string; logs: string[]; n: number }

async function vmPort(c: Ctx, attachTo?: string): Promise<{ name: string; sock: string }> {
  const name = `vb${process.pid % 100000}${c.n}`, sock = join(c.dir, `vm${c.n++}.sock`);
  const r = await daemonRequest(c.daemonSock, { cmd: 'vhost-create', port: name, path: sock }, 30_000);
  if (r.ok !== true) throw new Error(`vhost-create: ${String(r.error)}`);
  if (attachTo) {
    const a = await daemonRequest(c.daemonSock, { cmd: 'attach', port: `${attachTo}:${name}` }, 30_000);
    if (a.ok !== true) throw new Error(`attach: ${String(a.error)}`);
  }
  return { name, sock };
}

/** Frames the port's thread has taken from the guest's TX queues so far (vhost-list). */
async function guestTxPackets(c: Ctx, name: string): Promise<number> {
  const r = await daemonRequest(c.daemonSock, { cmd: 'vhost-list' }, 30_000);
  const ports = (r.ports ?? []) as { name: string; queues: { dir: string; packets: number }[] }[];
  const p = ports.find((x) => x.name === name);
  return p ? p.queues.filter((q) => q.dir === 'tx').reduce((a, q) => a + q.packets, 0) : NaN;
}

async function removePort(c: Ctx, name: string): Promise<void> {
  await daemonRequest(c.daemonSock, { cmd: 'vhost-remove', port: name }, 30_000).catch(() => undefined);
}

// pkt-gen busy-polls as testpmd does: poll() spins a second before it would sleep (and ask the
// front end for kicks), so a flowing stream never sleeps. 'sleep': poll() sleeps at once when
// nothing is there (NMTS_SPIN_US=0), as a receiver that shares its CPU with the thread feeding
// it should: its spin would only keep that thread off the CPU (docs/vms.md, "Rates").
const pktgen = (args: string[], wait: 'busy' | 'sleep' = 'busy'): Proc =>
  run(process.execPath, [NMTS, 'pkt-gen', '-w', '0', ...args], { ...process.env, NMTS_SPIN_US: wait === 'busy' ? '1000000' : '0' });
const served = (c: Ctx, name: string) => (): boolean => c.logs.some((l) => l.includes(`opened directly as netmap:${name}`));

interface VmRow { name: string; what: string; pps: number | null; vs?: { row: string; target: number; label: string }; note: string }

type RowFn = (c: Ctx, o: VmsOptions) => Promise<{ pps: number; note?: string }>;

const ROWS: { name: string; what: string; fn: RowFn; vs?: { row: string; target: number; label: string } }[] = [
  {
    name: 'ref-rx', what: 'virtio_user txonly -> net_vhost rxonly (testpmd, the reference)',
    fn: async (c, o) => {
      const sock = join(c.dir, `ref${c.n++}.sock`);
      const be = netVhost(sock, 'rxonly');
      let fe: Proc | null = null;
      try {
        await until('net_vhost listening', () => existsSync(sock), 20_000, be.out);
        fe = virtioUser(sock, 'txonly');
        return { pps: await window(o, be, (t) => testpmdPps(t, 'Rx-pps'), TESTPMD_MOVING) };
      } finally { await stop(fe); await stop(be); }
    },
  },
  {
    name: 'vm-rx', what: 'virtio_user txonly -> pkt-gen -f rx -i netmap:vm1 (one thread)',
    vs: { row: 'ref-rx', target: 0.75, label: 'vs net_vhost rxonly' },
    fn: async (c, o) => {
      const p = await vmPort(c);
      const rx = pktgen(['-f', 'rx', '-i', `netmap:${p.name}`, '-a', '1']);
      let fe: Proc | null = null;
      try {
        await until('pkt-gen serving the socket', served(c, p.name), 20_000, rx.out);
        fe = virtioUser(p.sock, 'txonly');
        return { pps: await window(o, rx, pktgenPps, PKTGEN_MOVING) };
      } finally { await stop(fe); await stop(rx); await removePort(c, p.name); }
    },
  },
  {
    name: 'ref-tx', what: 'net_vhost txonly -> virtio_user rxonly (testpmd, the reference)',
    fn: async (c, o) => {
      const sock = join(c.dir, `ref${c.n++}.sock`);
      const be = netVhost(sock, 'txonly');
      let fe: Proc | null = null;
      try {
        await until('net_vhost listening', () => existsSync(sock), 20_000, be.out);
        fe = virtioUser(sock, 'rxonly');
        const f = fe;
        return { pps: await window(o, f, (t) => testpmdPps(t, 'Rx-pps'), TESTPMD_MOVING) };
      } finally { await stop(fe); await stop(be); }
    },
  },
  {
    name: 'vm-tx', what: 'pkt-gen -f tx -i netmap:vm1 -> virtio_user rxonly (one thread)',
    vs: { row: 'ref-tx', target: 0.75, label: 'vs net_vhost txonly' },
    fn: async (c, o) => {
      const p = await vmPort(c);
      const tx = pktgen(['-f', 'tx', '-i', `netmap:${p.name}`, '-a', '1']);
      let fe: Proc | null = null;
      try {
        await until('pkt-gen serving the socket', served(c, p.name), 20_000, tx.out);
        fe = virtioUser(p.sock, 'rxonly');
        const f = fe;
        return { pps: await window(o, f, (t) => testpmdPps(t, 'Rx-pps'), TESTPMD_MOVING) };
      } finally { await stop(fe); await stop(tx); await removePort(c, p.name); }
    },
  },
  {
    name: 'vm-switch', what: 'virtio_user txonly -> vm1 -> VALE -> pkt-gen -f rx (3 busy threads, 2 cores)',
    vs: { row: 'ref-rx', target: 0.5, label: 'vs net_vhost rxonly' },
    fn: (c, o) => switchRow(c, o, false),
  },
  {
    // vm-switch itself stays without -p: on 2 cores with 3 busy threads a thread that never
    // yields took time from the front end and the receiver (docs/benchmarks.md, VMs)
    name: 'vm-switch-p', what: 'as vm-switch, the port\'s thread busy-polling (vale-ctl -p valeX:vm1: no kicks asked)',
    vs: { row: 'ref-rx', target: 0.5, label: 'vs net_vhost rxonly' },
    fn: (c, o) => switchRow(c, o, true),
  },
  {
    name: 'guest-ref', what: 'TCG guest pktgen (60 B, burst 32) -> net_vhost rxonly',
    fn: async (c) => {
      const sock = join(c.dir, `ref${c.n++}.sock`);
      const be = netVhost(sock, 'rxonly');
      try {
        await until('net_vhost listening', () => existsSync(sock), 20_000, be.out);
        return await guestRun(sock);
      } finally { await stop(be); }
    },
  },
  {
    name: 'guest-vm', what: 'TCG guest pktgen (60 B, burst 32) -> pkt-gen -f rx -i netmap:vm1',
    vs: { row: 'guest-ref', target: 1, label: 'vs the same guest into net_vhost' },
    fn: async (c) => {
      const p = await vmPort(c);
      const rx = pktgen(['-f', 'rx', '-i', `netmap:${p.name}`, '--json']);
      try {
        await until('pkt-gen serving the socket', served(c, p.name), 20_000, rx.out);
        const g = await guestRun(p.sock);
        await sleep(300);
        await stop(rx);
        const line = rx.out().trim().split('\n').filter((l) => l.startsWith('{')).pop();
        const got = line ? (JSON.parse(line) as { packets: number }).packets : -1;
        return { pps: g.pps, note: `${g.note}; pkt-gen received ${got}` };
      } finally { await stop(rx); await removePort(c, p.name); }
    },
  },
];

/** front end -> vm1 (the daemon's thread, busy-polling with `poll`) -> VALE -> pkt-gen -f rx. */
async function switchRow(c: Ctx, o: VmsOptions, poll: boolean): Promise<{ pps: number; note?: string }> {
  const sw = `valevb${process.pid % 100000}`;
  // the switch's receiver sleeps as soon as its ring is empty: spinning, it would take the
  // port's thread's CPU (three busy threads on two cores)
  const rx = pktgen(['-f', 'rx', '-i', `${sw}:rx@conf:slots=4096`], 'sleep');
  let fe: Proc | null = null;
  let name = '';
  try {
    await until('pkt-gen on the switch', () => /Receiving from/.test(rx.out()), 20_000, rx.out);
    const p = await vmPort(c, sw);
    name = p.name;
    if (poll) {
      const r = await daemonRequest(c.daemonSock, { cmd: 'polling', port: `${sw}:${name}`, enable: true }, 30_000);
      if (r.ok !== true) throw new Error(`polling: ${String(r.error)}`);
    }
    fe = virtioUser(p.sock, 'txonly');
    // what the port's thread took from the guest in the window: delivered + dropped at the switch
    const took: number[] = [];
    const edge = async (): Promise<void> => { took.push(await guestTxPackets(c, name)); took.push(performance.now()); };
    const pps = await window(o, rx, pktgenPps, PKTGEN_MOVING, edge);
    const takenPps = took.length === 4 ? (took[2] - took[0]) / ((took[3] - took[1]) / 1000) : NaN;
    return { pps, note: `delivered to pkt-gen; the port took ${fmt(takenPps)} Mpps from the guest (the switch drops the rest at the receiver's ring)` };
  } finally {
    await stop(fe);
    await stop(rx);
    if (name) {
      if (poll) await daemonRequest(c.daemonSock, { cmd: 'polling', port: `${sw}:${name}`, enable: false }, 30_000).catch(() => undefined);
      await removePort(c, name);
    }
  }
}

const GUEST_FRAMES = 200_000;
/** One guest boot: its pktgen floods GUEST_FRAMES frames through the NIC on `sock`; its own pps. */
async function guestRun(sock: string): Promise<{ pps: number; note: string }> {
  const g = new Guest('bench-guest', { socket: sock, mac: '52:54:00:00:00:01', test: { 'ipv6.disable': 1, nt_ip: '10.0.0.1/24', nt_pktgen: GUEST_FRAMES, nt_burst: 32, nt_dst: '10.0.0.9', nt_dstmac: '02:00:00:00:00:09' } });
  try {
    const r = await g.result('NMTS-PKTGEN', 120_000);
    return { pps: Number(r.pps), note: `the guest sent ${r.sent}` };
  } finally {
    await g.kill();
  }
}

function fmt(pps: number | null): string {
  return pps === null ? '-' : (pps / 1e6).toFixed(3);
}

export async function runVms(o: VmsOptions): Promise<number> {
  const err = (s: string): void => { process.stderr.write(s); };
  const dir = mkdtempSync(join(tmpdir(), 'nmts-bvm-'));
  const c: Ctx = { dir, daemonSock: join(dir, 'd.sock'), logs: [], n: 0 };
  const rounds = o.rounds ?? 1;
  /** Each round's rows by name (a ratio is taken within its round). */
  const byRound: Map<string, VmRow>[] = [];
  const notRoot = process.getuid?.() !== 0;
  const noDpdk = !haveTestpmd();
  const todo = o.only ? ROWS.filter((r) => o.only!.includes(r.name)) : ROWS;
  // the guest is built (or found in its cache) only when a guest row runs
  const noGuest = todo.some((r) => r.name.startsWith('guest')) ? guestSkip() : false;
  const d = await runDaemon({ socketPath: c.daemonSock, log: (l) => c.logs.push(l) });
  let failures = 0;
  try {
    for (let round = 0; round < rounds; round++) {
      const rows = new Map<string, VmRow>();
      byRound.push(rows);
      for (const [i, r] of todo.entries()) {
        err(`${rounds > 1 ? `round ${round + 1}/${rounds} ` : ''}[${i + 1}/${todo.length}] ${r.name} ... `);
        const row: VmRow = { name: r.name, what: r.what, pps: null, vs: r.vs, note: '' };
        const skip = notRoot ? 'needs root (testpmd\'s runtime directory, the daemon\'s sockets)'
          : noDpdk && !r.name.startsWith('guest-vm') ? 'needs dpdk-testpmd (apt-get install dpdk-dev librte-net-virtio23 librte-net-vhost23 librte-mempool-ring23)'
          : r.name.startsWith('guest') && noGuest ? `skipped: ${noGuest}` : '';
        if (skip) {
          row.note = skip;
          err(`${skip}\n`);
        } else {
          try {
            const m = await r.fn(c, o);
            row.pps = m.pps;
            row.note = m.note ?? '';
            const x = ratioOf(row, rows);
            err(`${fmt(m.pps)} Mpps${x === null ? '' : ` (${x.toFixed(2)}x)`}${m.note ? `; ${m.note}` : ''}\n`);
          } catch (e) {
            failures++;
            row.note = `ERROR: ${e instanceof Error ? e.message : String(e)}`;
            err(`${row.note}\n`);
          }
        }
        rows.set(r.name, row);
        if (o.json) process.stdout.write(`${JSON.stringify({ ...jsonRow(row, rows), ...(rounds > 1 ? { round: round + 1 } : {}) })}\n`);
        await sleep(300);
      }
    }
  } finally {
    await d.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const timing = `${o.warmupMs / 1000} s warm-up + ${o.durationMs / 1000} s measured per row, rows one at a time`;
  if (rounds === 1) {
    if (!o.json) process.stdout.write(`${vmTable([...byRound[0].values()], byRound[0])}\n\n${timing}\n`);
  } else {
    const summary = todo.map((r) => summarize(r.name, byRound));
    if (o.json) for (const x of summary) process.stdout.write(`${JSON.stringify({ summary: true, ...x, rounds })}\n`);
    else process.stdout.write(`${roundsTable(summary)}\n\n${rounds} rounds of every row in turn; ${timing}; a ratio is taken within a round\n`);
  }
  return failures ? 1 : 0;
}

interface RowSummary { case: string; mpps: Spread | null; vs: string | null; ratio: Spread | null; target: number | null; met: string; what: string }

/** A row over the rounds: its rates and its ratios (each against its reference in the same round). */
function summarize(name: string, byRound: Map<string, VmRow>[]): RowSummary {
  const rates: number[] = [], ratios: number[] = [];
  let row: VmRow | undefined;
  for (const rows of byRound) {
    const r = rows.get(name);
    if (!r) continue;
    row = r;
    if (r.pps !== null) rates.push(r.pps / 1e6);
    const x = ratioOf(r, rows);
    if (x !== null) ratios.push(x);
  }
  const ratio = spread(ratios), target = row?.vs?.target ?? null;
  const met = target === null || ratio === null ? '' : `${ratios.filter((x) => x >= target).length} of ${ratios.length} rounds`;
  return { case: name, mpps: spread(rates), vs: row?.vs?.row ?? null, ratio, target, met, what: row?.what ?? '' };
}

function roundsTable(list: RowSummary[]): string {
  const f = (s: Spread | null, d: number, unit = ''): string => (s === null ? '-' : `${s.min.toFixed(d)} / ${s.median.toFixed(d)} / ${s.max.toFixed(d)}${unit}`);
  const head = ['case', 'Mpps min / median / max', 'ratio min / median / max', 'target', 'target met', 'what'];
  const body = list.map((r) => [r.case, f(r.mpps, 3), r.vs ? `${f(r.ratio, 2, 'x')} vs ${r.vs}` : '-', r.target === null ? '(reference)' : `>= ${r.target}x`, r.met, r.what]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((s, i) => s.padEnd(w[i])).join(' | ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('-|-'), ...body.map(line)].join('\n');
}

function ratioOf(r: VmRow, rows: Map<string, VmRow>): number | null {
  const ref = r.vs ? rows.get(r.vs.row) : undefined;
  return r.pps !== null && ref?.pps ? r.pps / ref.pps : null;
}

function jsonRow(r: VmRow, rows: Map<string, VmRow>): Record<string, unknown> {
  const ratio = ratioOf(r, rows);
  return { case: r.name, what: r.what, mpps: r.pps === null ? null : Number((r.pps / 1e6).toFixed(4)), vs: r.vs?.row ?? null,
    ratio: ratio === null ? null : Number(ratio.toFixed(3)), target: r.vs?.target ?? null, notes: r.note || null };
}

function vmTable(list: VmRow[], rows: Map<string, VmRow>): string {
  const head = ['case', 'Mpps', 'ratio', 'target', 'what', 'notes'];
  const body = list.map((r) => {
    const x = ratioOf(r, rows);
    return [r.name, fmt(r.pps), x === null ? '-' : `${x.toFixed(2)}x ${r.vs!.label}`, r.vs ? `>= ${r.vs.target}x` : '(reference)', r.what, r.note];
  });
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]): string => cells.map((s, i) => (i === 1 ? s.padStart(w[i]) : s.padEnd(w[i]))).join(' | ').trimEnd();
  return [line(head), w.map((n) => '-'.repeat(n)).join('-|-'), ...body.map(line)].join('\n');
}

function haveTestpmd(): boolean {
  return (process.env.PATH ?? '').split(':').some((p) => p && existsSync(join(p, 'dpdk-testpmd')));
}
