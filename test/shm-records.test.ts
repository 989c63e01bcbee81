// Records and regions read back from shared files are input (issue #9): counts and offsets
// are range-checked before they size a loop or address anything, a bad record is marked
// corrupt and reported, lock waits of passes over all files are bounded, a failed open
// leaves nothing behind, a retired region's lock word is released in the shared file, and
// file names map one-to-one to keys. Each test here failed (or hung, or aborted) before the
// fix it names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { listSwitchesReport, open, reclaimAll, regionPath, type Port } from '../src/index.js';
import { regionKey } from '../src/core/shm.js';
import { taskAlive, OWNER_TOKEN } from '../src/core/lock.js';
import { MAX_OPENERS, PR, RH, RR, SW } from '../src/core/layout.js';
import { NetmapError } from '../src/core/region.js';

const indexUrl = pathToFileURL(fileURLToPath(new URL('../src/index.js', import.meta.url))).href;
const id = `${process.pid % 10000}`;
const DEAD_TID = 0x3ffffffe; // above any pid_max: never a live task

/** Run a function with NMTS_MEMORY set (regions created meanwhile get that size). */
function withMemory<T>(size: string, fn: () => T): T {
  const old = process.env.NMTS_MEMORY;
  process.env.NMTS_MEMORY = size;
  try { return fn(); } finally { if (old === undefined) delete process.env.NMTS_MEMORY; else process.env.NMTS_MEMORY = old; }
}

/** Pretend the opener of `port` died: its opener entry names a task that does not exist. */
function orphan(port: Port): void {
  const u32 = port.region.u32, base = (port.rec + PR.openers) >> 2;
  for (let k = 0; k < MAX_OPENERS; k++) if (u32[base + 2 * k] === OWNER_TOKEN) u32[base + 2 * k] = DEAD_TID;
}

test('regionKey: file names are one-to-one and reversible for every string; ASCII names keep theirs', () => {
  assert.notEqual(regionPath('ä2d'), regionPath('\ue42d'), 'ä2d and U+E42D used to share a file');
  for (const k of ['vale0', 'pipe.x', 'a b', '%', '%25', 'a%zz', 'ä2d', '\ue42d', '\u{1f600}x', 'x/y', '\ud800', 'é', '%u00e9']) {
    const name = basename(regionPath(k));
    assert.equal(regionKey(name), k, `round trip of ${JSON.stringify(k)} (${name})`);
  }
  const names = new Set(['ä2d', '\ue42d', 'ä', '%e4', '%', '%25', 'é', '%u00e9'].map(regionPath));
  assert.equal(names.size, 8, 'distinct keys, distinct files');
  assert.ok(regionPath('vale0').endsWith('/nmts-vale0'));
  assert.ok(regionPath('a b').endsWith('/nmts-a%20b'), 'the escaping of characters up to 0xff is unchanged');
  assert.equal(regionKey('nmts-%zz'), null, 'a name regionPath never makes is not a region');
  assert.equal(regionKey('nmts-%E4'), null, 'nor is a second spelling of one');
});

test('counts of 0x7fffffff and 0 in a dead opener\'s port: reclaim marks it corrupt and reports it, nothing aborts', () => {
  const sw = `valesr${id}`;
  const keep = open(`${sw}:keep`);
  const victims = ['big', 'zero', 'refs'].map((n) => open(`${sw}:${n}`));
  try {
    const u32 = keep.region.u32;
    u32[(victims[0].rec + PR.ntx) >> 2] = 0x7fffffff; // made the next reclaim build a 2^31-entry array
    u32[(victims[1].rec + PR.nrx) >> 2] = 0;
    u32[(victims[1].rec + PR.ntx) >> 2] = 0;
    u32[(victims[2].rec + PR.refs) >> 2] = 0x7fffffff;
    for (const v of victims) orphan(v);
    const r = reclaimAll(taskAlive);
    const text = r.problems.join('\n');
    assert.match(text, new RegExp(`${sw}:big .*ntx=2147483647`), text);
    assert.equal(u32[(victims[0].rec + PR.state) >> 2], 2, 'marked corrupt');
    // a port whose counts are 0 has no rings to unbind: it goes like any other
    assert.ok(r.ports.includes(`${sw}:zero`) || r.openers >= 2, JSON.stringify(r));
    // the listing still shows the healthy port and reports the corrupt one
    const l = listSwitchesReport();
    const s = l.switches.find((x) => x.name === sw);
    assert.ok(s?.ports.some((p) => p.name === `${sw}:keep`), JSON.stringify(l));
    assert.ok(!s?.ports.some((p) => p.name === `${sw}:big`), 'a corrupt port is not listed');
    assert.match(l.problems.join('\n'), new RegExp(`${sw}:big`), 'the listing reports it');
    assert.equal(u32[RH.magic >> 2], 0x53544d4e, 'the header is intact');
    // opening a port whose counts are bad: EINVAL naming the field, not a 2^31-entry array
    const isEinval = (e: unknown): boolean => e instanceof NetmapError && e.code === 'EINVAL';
    assert.throws(() => open(`${sw}:big`), isEinval);
    u32[(keep.rec + PR.nrx) >> 2] = 0x7fffffff;
    assert.throws(() => open(`${sw}:keep`), (e: unknown) => isEinval(e) && /nrx=2147483647/.test((e as Error).message));
    u32[(keep.rec + PR.nrx) >> 2] = 1;
    Atomics.store(u32, (keep.rec + PR.state) >> 2, 1);
  } finally {
    keep.close();
    rmSync(regionPath(sw), { force: true }); // the corrupt record keeps the file: never followed, never freed
  }
});

test('a port whose last opener died inside close() (no opener, no reference, not destroyed) is destroyed by the next reclaim; a pipe end whose other end is open stays', () => {
  const sw = `valeor${id}`;
  const keep = open(`${sw}:keep`);
  const victim = open(`${sw}:gone`);
  const master = open(`${sw}:pp{1`); // makes both ends; the slave end has no reference yet
  let slave: Port | null = null;
  try {
    const u32 = keep.region.u32, rec = victim.rec;
    // what close() had done when its process was killed: the opener entry and reference gone
    const base = (rec + PR.openers) >> 2;
    for (let k = 0; k < MAX_OPENERS; k++) { u32[base + 2 * k] = 0; u32[base + 2 * k + 1] = 0; }
    u32[(rec + PR.refs) >> 2] = 0;
    assert.equal(u32[(rec + PR.state) >> 2], 1, 'left active: before the fix nothing ever removed it');
    // and a switch whose only port is such an orphan: its file is retired in the same pass
    const lone = open(`${sw}x:lone`), lu32 = lone.region.u32, lbase = (lone.rec + PR.openers) >> 2;
    for (let k = 0; k < MAX_OPENERS; k++) { lu32[lbase + 2 * k] = 0; lu32[lbase + 2 * k + 1] = 0; }
    lu32[(lone.rec + PR.refs) >> 2] = 0;
    assert.ok(existsSync(regionPath(`${sw}x`)));
    const r = reclaimAll(taskAlive);
    assert.notEqual(u32[(rec + PR.state) >> 2], 1, 'destroyed');
    assert.ok(r.ports.includes(`${sw}:gone`), `reported: ${r.ports.join(' ')}`);
    assert.ok(r.retired.includes(`${sw}x`) && !existsSync(regionPath(`${sw}x`)), `the orphan's switch retired: ${r.retired.join(' ')}`);
    const names = listSwitchesReport().switches.find((x) => x.name === sw)!.ports.map((p) => p.name);
    assert.ok(!names.includes(`${sw}:gone`) && names.includes(`${sw}:keep`), names.join(' '));
    // the pipe: its slave end (no reference while only the master is open) survived the pass
    slave = open(`${sw}:pp}1`);
    const tx = master.txRings[0]!;
    tx.setLen(tx.head, 60);
    tx.advance(tx.next(tx.head));
    master.txsync();
    slave.rxsync();
    assert.equal(slave.rxRings[0]!.tail - slave.rxRings[0]!.head, 1, 'a frame through the pipe');
  } finally {
    slave?.close();
    master.close();
    keep.close();
  }
});

test('nrx=0 on a destination: its frames are dropped and counted, no lock lands on word 0 (the magic is intact)', () => {
  const sw = `valesn${id}`;
  const tx = open(`${sw}:tx`), rx = open(`${sw}:rx`);
  try {
    const u32 = tx.region.u32;
    u32[(rx.rec + PR.nrx) >> 2] = 0;
    const frame = new Uint8Array(60).fill(0xff); // broadcast: goes to rx
    assert.ok(tx.inject(frame));
    const before = tx.stats().txDrops;
    tx.txsync(); // the receiver's damage is the receiver's: no exception in the sender
    assert.equal(tx.stats().txDrops - before, 1, 'the frame is counted as dropped');
    assert.equal(u32[RH.magic >> 2], 0x53544d4e, 'the magic is intact');
    u32[(rx.rec + PR.nrx) >> 2] = 1;
  } finally {
    tx.close();
    rx.close();
  }
});

test('a config lock held by a live task: reclaimAll gives up after a bounded wait, naming the task and the file', () => {
  const sw = `valesl${id}`;
  const p = open(`${sw}:a`);
  try {
    const i32 = p.region.i32;
    Atomics.store(i32, RH.configLock >> 2, 1); // pid 1 is alive and never lets go
    const t = Date.now();
    const r = reclaimAll(taskAlive, { lockWaitMs: 200 });
    const ms = Date.now() - t;
    Atomics.store(i32, RH.configLock >> 2, 0);
    assert.ok(ms < 2000, `took ${ms} ms`);
    const s = r.skipped.find((x) => x.file === regionPath(sw));
    assert.ok(s, JSON.stringify(r.skipped));
    assert.match(s.reason, /live task 1 /);
  } finally {
    p.close();
  }
});

/** Start a process that opens `name` (with open options) and stays; resolves with it and its first line. */
async function opener(name: string, opts = '{}'): Promise<{ child: ReturnType<typeof spawn>; line: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e',
    `import { open } from ${JSON.stringify(indexUrl)}; const p = open(${JSON.stringify(name)}, ${opts}); process.stdout.write('ready ' + p.bufsHead + '\\n'); setInterval(() => {}, 1 << 30);`],
  { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (x: string) => { out += x; if (out.includes('\n')) resolve(out); });
    child.once('exit', () => reject(new Error(`child exited: ${out}`)));
  });
  return { child, line };
}

async function kill(child: ReturnType<typeof spawn>): Promise<void> {
  child.kill('SIGKILL');
  if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
}

test('a reclaim that retires a region unlocks its config lock in the shared file, not in zero pages', async () => {
  const sw = `valesu${id}`;
  const { child } = await opener(`${sw}:a`);
  const path = regionPath(sw);
  const fd = openSync(path, 'r'); // still reads the file after it is unlinked
  try {
    await kill(child);
    const r = reclaimAll(taskAlive); // maps the file (no port of ours in it), reclaims, retires
    assert.ok(r.retired.includes(sw), JSON.stringify(r));
    assert.equal(existsSync(path), false);
    const word = new Int32Array(1);
    readSync(fd, new Uint8Array(word.buffer), 0, 4, RH.configLock);
    assert.equal(word[0], 0, `the lock word kept thread id ${word[0]}: a process mapping the deleted file waits forever`);
    const dead = new Int32Array(1);
    readSync(fd, new Uint8Array(dead.buffer), 0, 4, RH.dead);
    assert.equal(dead[0], 1);
  } finally {
    closeSync(fd);
  }
});

test('failed opens leave nothing: a long monitor name, an ENOMEM monitor, an exclusive open refused', () => {
  const sw = `valesf${id}`;
  // a port name of 62 bytes: its monitor's directory name does not fit
  const long = `${sw}:${'p'.repeat(62 - sw.length - 1)}`;
  withMemory('8m', () => {
    const target = open(`${long}@conf:rings=2,slots=256`);
    const region = target.region;
    try {
      const used = region.u32[RH.objUsedUnits >> 2], free = region.freeBuffers();
      assert.throws(() => open(`${long}/r`), /longer than 64 bytes/);
      assert.equal(region.u32[RH.objUsedUnits >> 2], used, 'no monitor record leaked');
      assert.throws(() => open(`${long}/rt`, { rxSlots: 4096 }), (e: unknown) => e instanceof NetmapError && (e.code === 'ENOMEM' || e.code === 'EINVAL'));
      assert.equal(region.u32[RH.objUsedUnits >> 2], used, 'no record leaked');
      assert.equal(region.freeBuffers(), free, 'no buffer leaked');
      assert.equal(region.dirList(3).length, 0, 'no monitor directory entry left');
      assert.throws(() => open(`${long}/x`), (e: unknown) => e instanceof NetmapError && e.code === 'EBUSY');
    } finally {
      target.close();
    }
    assert.equal(existsSync(regionPath(sw)), false, 'the file goes with the last port');
    assert.equal(region.unmapped, true, 'the mapping is released (a refused open does not count as a user)');
  });
});

test('the extra buffers of an opener that died go back to the region', async () => {
  const sw = `valesb${id}`;
  const keep = open(`${sw}:keep`);
  try {
    const region = keep.region;
    const before = region.freeBuffers();
    const { child, line } = await opener(`${sw}:b`, '{ extraBufs: 300 }');
    assert.match(line, /^ready [1-9]/);
    assert.ok(region.freeBuffers() <= before - 300);
    await kill(child);
    const r = reclaimAll(taskAlive);
    assert.ok(r.ports.includes(`${sw}:b`), JSON.stringify(r));
    assert.equal(region.freeBuffers(), before, 'rings and extra buffers all returned');
  } finally {
    keep.close();
  }
});

test('detachPort waits for a live sender\'s mark without spinning, and not forever', () => {
  const sw = `valesd${id}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  try {
    const u32 = a.region.u32;
    const t = u32[((a.rec + PR.ringsOfs) >> 2)];
    const old = Atomics.load(u32, (a.region.u32[(b.rec + PR.link) >> 2] + SW.epoch) >> 2) & 1;
    Atomics.store(u32, (t + RR.fwd) >> 2, (1 | (old << 31)) >>> 0); // "pid 1 is forwarding": it never finishes
    const wall = Date.now(), cpu = process.cpuUsage();
    b.close();
    const ms = Date.now() - wall, used = process.cpuUsage(cpu);
    const cpuMs = (used.user + used.system) / 1000;
    Atomics.store(u32, (t + RR.fwd) >> 2, 0);
    assert.ok(ms < 5000, `detach took ${ms} ms`);
    assert.ok(cpuMs < ms * 0.6 + 50, `detach burned ${cpuMs.toFixed(0)} ms of CPU in ${ms} ms (a hot spin)`);
  } finally {
    a.close();
  }
});
