// `nmts top`: the table from two snapshots (sorted by rate, drops marked), --once --json for
// scripts, and the live screen in a real terminal (tmux: send-keys, capture-pane) while
// pkt-gen runs through a switch.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { renderTop, renderVxlan, si, topRows } from '../src/apps/top/render.js';
import { vxlanRows, type VxlanSample } from '../src/apps/top/vxlan.js';
import type { MetricsSnapshot } from '../src/vale/metrics.js';
import { needs } from './fixtures/requires.js';

const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const id = process.pid % 100000;
const children = new Set<ReturnType<typeof spawn>>();
after(() => { for (const c of children) c.kill('SIGKILL'); });

function snap(mono: number, ports: Array<[string, number, number, number]>): MetricsSnapshot {
  return {
    time: 0, mono, skipped: [], problems: [],
    switches: [{
      name: 'vale0', file: '', rss: false, lookup: null, learnedMacs: 0,
      ports: ports.map(([port, rx, tx, drops], index) => ({
        switch: 'vale0', port, index, gen: 1, openers: 1, monitors: 0, learnedMacs: index,
        rxPackets: rx, rxBytes: rx * 100, txPackets: tx, txBytes: tx * 100,
        drops: { undelivered: 0, badVnetHdr: 0, ringFull: drops, badSlot: 0, monitorFull: 0 },
        rings: [{ ring: 0, direction: 'rx' as const, slots: 1024, occupancy: 7, packets: rx, bytes: rx * 100, drops, ringFull: drops, badSlot: 0, badVnetHdr: 0 }],
      })),
    }],
  };
}

test('rows are sorted by packet rate; a port dropping now is marked; figures in SI units', () => {
  const prev = snap(0, [['vale0:a', 0, 0, 0], ['vale0:b', 0, 0, 0], ['vale0:c', 0, 0, 0]]);
  const cur = snap(1000, [['vale0:a', 10, 0, 0], ['vale0:b', 2_500_000, 0, 300], ['vale0:c', 0, 40_000, 0]]);
  const rows = topRows(prev, cur);
  assert.deepEqual(rows.map((r) => r.port), ['vale0:b', 'vale0:c', 'vale0:a']);
  assert.equal(rows[0].rxPps, 2_500_000);
  assert.equal(rows[0].dropsPs, 300);
  assert.equal(rows[0].rxOccupancy, 7);
  const lines = renderTop(rows, cur);
  assert.match(lines[0], /1 switch, 3 ports, sorted by packet rate/);
  assert.match(lines[1], /^PORT\s+RX pps\s+TX pps/);
  assert.match(lines[2], /^vale0:b\s+2\.50M\s+0\s+2\.00G\s+0\s+300\s+300\s+7\/1024\s+1  !$/);
  assert.match(lines[3], /^vale0:c\s+0\s+40\.0k\s+0\s+32\.0M\s+0\s+0\s+7\/1024\s+2$/);
  assert.deepEqual([si(0), si(5.55), si(999), si(1000), si(123456), si(1e9)], ['0', '5.6', '999', '1.00k', '123k', '1.00G']);
  assert.equal(renderTop(rows, cur, { maxRows: 1 }).at(-1), '(2 more ports)');
});

test('VXLAN ports: rates of their counter pages between refreshes, drops of every cause summed and marked', () => {
  const page = (mono: number, c: Record<string, number>): VxlanSample => ({ mono, ports: [
    { name: 'vx0', open: true, counters: c },
    { name: 'vx9', open: false, counters: {} },
  ] });
  const prev = page(0, { rx_frames: 1000, tx_frames: 500, rx_bytes: 60_000, tx_bytes: 30_000, tx_datagrams: 600, tx_flooded: 50, rx_wrong_vni: 1 });
  const cur = page(2000, { rx_frames: 401_000, tx_frames: 20_500, rx_bytes: 24_060_000, tx_bytes: 1_230_000, tx_datagrams: 30_600, tx_flooded: 1050, rx_wrong_vni: 5, tx_too_big: 6, rx_ring_full: 10, fdb_learned: 99 });
  const rows = vxlanRows(prev, cur);
  assert.deepEqual(rows.map((r) => r.name), ['vx0', 'vx9'], 'busiest first');
  assert.deepEqual([rows[0].rxPps, rows[0].txPps, rows[0].datagramsPs, rows[0].floodedPs], [200_000, 10_000, 15_000, 500]);
  assert.deepEqual([rows[0].drops, rows[0].dropsPs], [21, 10], 'wrong VNI + too big + ring full (fdb_learned is no drop)');
  const lines = renderVxlan(rows);
  assert.match(lines[0], /^VXLAN PORT\s+RX pps\s+TX pps\s+RX bit\/s\s+TX bit\/s\s+DGRAM\/s\s+FLOOD\/s\s+DROP\/s\s+DROPS STATE$/);
  assert.match(lines[1], /^vx0\s+200k\s+10\.0k\s+96\.0M\s+4\.80M\s+15\.0k\s+500\s+10\s+21 open  !$/);
  assert.match(lines[2], /^vx9\s+0\s+0\s+0\s+0\s+0\s+0\s+0\s+0 closed$/);
  const screen = renderTop([], snap(2000, []), { vxlan: rows });
  assert.deepEqual(screen.slice(-4), ['', ...lines], 'below the switch ports, after a blank line');
});

function pktgen(args: string[]): Promise<{ code: number | null; out: string }> {
  const c = spawn(process.execPath, [nmts, 'pkt-gen', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(c);
  let out = '';
  c.stdout.on('data', (d) => { out += d; });
  return new Promise((resolve) => c.once('exit', (code) => { children.delete(c); resolve({ code, out }); }));
}
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('nmts top --once --json: the ports of a running pair with their rates', async () => {
  const sw = `valeTj${id}`;
  const rx = pktgen(['-i', `${sw}:rx`, '-f', 'rx', '--duration', '4']);
  await sleep(700);
  const tx = pktgen(['-i', `${sw}:tx`, '-f', 'tx', '-R', '20000', '--duration', '3']);
  await sleep(800);
  const out = execFileSync(process.execPath, [nmts, 'top', '--once', '--json'], { cwd: root, encoding: 'utf8' });
  await Promise.all([rx, tx]);
  const lines = out.trim().split('\n');
  assert.equal(lines.length, 1, 'one object with --once');
  const r = JSON.parse(lines[0]) as { ports: Array<{ port: string; rxPps: number; txPps: number }> };
  const prx = r.ports.find((p) => p.port === `${sw}:rx`), ptx = r.ports.find((p) => p.port === `${sw}:tx`);
  assert.ok(prx && ptx, out);
  assert.ok(ptx.txPps > 0 && ptx.txPps < 30000, `the sender's rate is shown, at most the paced 20 kpps (less on a loaded machine): ${ptx.txPps}`);
  assert.ok(prx.rxPps > 0);
});


test('nmts top in a terminal: the lines and figures appear, q quits', { skip: needs(['tmux']) }, async () => {
  const sw = `valeTt${id}`;
  const sock = `nmts-top-${id}`;
  const t = (...args: string[]): string => execFileSync('tmux', ['-L', sock, ...args], { encoding: 'utf8' });
  const env = `NMTS_SHM_DIR=${process.env.NMTS_SHM_DIR ?? '/dev/shm'}`;
  try {
    t('new-session', '-d', '-s', 'top', '-x', '150', '-y', '30', `env ${env} ${process.execPath} ${nmts} top`);
    const rx = pktgen(['-i', `${sw}:rx`, '-f', 'rx', '--duration', '6']);
    await sleep(700);
    const tx = pktgen(['-i', `${sw}:tx`, '-f', 'tx', '-R', '30000', '--duration', '5']);
    let screen = '';
    const rowRe = new RegExp(`^${sw}:rx\\s+([\\d.]+)k\\s+0\\s`, 'm');
    for (let k = 0; k < 40 && !rowRe.test(screen); k++) {
      await sleep(250);
      screen = t('capture-pane', '-p', '-t', 'top');
    }
    assert.match(screen, /^nmts top - \d\d:\d\d:\d\d - \d+ switch(es)?, \d+ ports?, sorted by packet rate/m, screen);
    assert.match(screen, /^PORT\s+RX pps\s+TX pps\s+RX bit\/s\s+TX bit\/s\s+DROP\/s\s+DROPS\s+RX RING\s+MACS/m, screen);
    const m = rowRe.exec(screen);
    assert.ok(m, `a line for ${sw}:rx with a rate in kpps:\n${screen}`);
    assert.ok(Number(m[1]) > 0 && Number(m[1]) < 45, `a rate shown, at most the paced 30 kpps: ${m[1]}k`);
    assert.match(screen, new RegExp(`^${sw}:tx\\s+0\\s+[\\d.]+k\\s`, 'm'), screen);
    t('send-keys', '-t', 'top', 'q');
    let alive = true;
    for (let k = 0; k < 40 && alive; k++) {
      await sleep(100);
      alive = spawnSync('tmux', ['-L', sock, 'has-session', '-t', 'top']).status === 0;
    }
    assert.equal(alive, false, 'q quits');
    await Promise.all([rx, tx]);
  } finally {
    spawnSync('tmux', ['-L', sock, 'kill-server']);
  }
});
