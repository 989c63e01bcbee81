// Files planted in the shared-memory directory (issue #9): a copy of a real switch file whose
// config lock names a live process, random bytes, an empty file, zeros, a truncated copy, a
// copy marked dead, a directory, a symbolic link, a copy owned by another user. Beside a live
// switch, in a directory anyone may write (as /dev/shm): listings still show the live switch,
// quickly, and say what they skipped and why; the daemon's periodic reclaim keeps running and
// its mappings stay flat; a file truncated after the daemon mapped it costs an error, not a
// SIGBUS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonRequest } from '../src/apps/daemon/daemon.js';
import { RH } from '../src/core/layout.js';

const listerJs = fileURLToPath(new URL('./fixtures/shm-lister.js', import.meta.url));
const holderJs = fileURLToPath(new URL('./fixtures/valectl-holder.js', import.meta.url));
const daemonJs = fileURLToPath(new URL('./fixtures/daemon-cli.js', import.meta.url));
const valectlJs = fileURLToPath(new URL('./fixtures/valectl-cli.js', import.meta.url));
const isRoot = process.getuid?.() === 0;
const base = process.env.NMTS_SHM_DIR ?? '/dev/shm';

interface Listing { ms: number[]; switches: Array<{ name: string; ports: string[] }>; skipped: Array<{ file: string; reason: string }>; problems: string[] }

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string; ms: number }> {
  const t = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [file, ...args], { env, timeout: 20_000 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number; signal?: string }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, signal: e?.signal ?? null, stdout, stderr, ms: Date.now() - t });
    });
  });
}

function waitLine(child: ChildProcess, re: RegExp, what: () => string, timeoutMs = 8000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${re}: ${what()}`)), timeoutMs);
    const check = (): void => { if (re.test(what())) { clearTimeout(t); resolve(); } };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    check();
  });
}

function word(file: string, ofs: number, value: number): void {
  const fd = openSync(file, 'r+');
  try {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    writeSync(fd, b, 0, 4, ofs);
  } finally {
    closeSync(fd);
  }
}

/** Lines of /proc/PID/maps that map files of `dir` (deleted or not), and all lines. */
function maps(pid: number, dir: string): { files: number; all: number } {
  const lines = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  return { files: lines.filter((l) => l.includes(`${dir}/`)).length, all: lines.length };
}

test('planted files beside a live switch: listings stay fast and complete, the daemon stays up with flat mappings', { timeout: 60_000 }, async () => {
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'planted-'));
  chmodSync(dir, 0o1777); // like /dev/shm: anyone may create files here
  const env = { ...process.env, NMTS_SHM_DIR: dir, NMTS_MEMORY: '16m', NMTS_SOCKET: join(dir, 'd.sock') };
  const live = 'valeplive';
  const holder = spawn(process.execPath, [holderJs, `${live}:a`], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  let hout = '';
  holder.stdout!.setEncoding('utf8').on('data', (x: string) => { hout += x; });
  let daemon: ChildProcess | null = null;
  let dlog = '';
  try {
    await waitLine(holder, /ready|error/, () => hout);
    assert.match(hout, /ready/);
    const real = join(dir, `nmts-${live}`);
    const plant = (name: string): string => join(dir, `nmts-${name}`);
    copyFileSync(real, plant('valelocked'));
    word(plant('valelocked'), RH.configLock, 1); // the lock of a live process (pid 1) that never lets go
    copyFileSync(real, plant('valedead'));
    word(plant('valedead'), RH.dead, 1);
    copyFileSync(real, plant('valetrunc'));
    truncateSync(plant('valetrunc'), 8192);
    writeFileSync(plant('valerandom'), randomBytes(65536));
    writeFileSync(plant('valeempty'), '');
    writeFileSync(plant('valezero'), Buffer.alloc(1 << 20));
    mkdirSync(plant('valedir'));
    symlinkSync(real, plant('valelink'));
    writeFileSync(join(dir, 'nmts-%zz'), 'not a name regionPath makes');
    if (isRoot) {
      copyFileSync(real, plant('valeother'));
      chownSync(plant('valeother'), 65534, 65534);
    }
    // a listing: the live switch, quickly, and every planted file named with a reason
    const l = await run(listerJs, ['5'], env);
    assert.equal(l.code, 0, l.stderr);
    const r = JSON.parse(l.stdout) as Listing;
    assert.deepEqual(r.switches.map((s) => s.name), [live], JSON.stringify(r));
    assert.deepEqual(r.switches[0].ports, [`${live}:a`]);
    const worst = Math.max(...r.ms);
    assert.ok(worst < 500, `a listing took ${worst.toFixed(0)} ms (${r.ms.map((x) => x.toFixed(0)).join(' ')})`);
    const reasons = new Map(r.skipped.map((s) => [s.file.slice(dir.length + 1), s.reason]));
    assert.match(reasons.get('nmts-valelocked') ?? '', /live task 1 /);
    assert.match(reasons.get('nmts-valedead') ?? '', /retired/);
    assert.match(reasons.get('nmts-valetrunc') ?? '', /does not fit/);
    assert.match(reasons.get('nmts-valerandom') ?? '', /not a usable/);
    assert.match(reasons.get('nmts-valeempty') ?? '', /0 bytes/);
    assert.match(reasons.get('nmts-valezero') ?? '', /no magic/);
    assert.match(reasons.get('nmts-valedir') ?? '', /directory/);
    assert.match(reasons.get('nmts-valelink') ?? '', /symbolic link/);
    if (isRoot) assert.match(reasons.get('nmts-valeother') ?? '', /owned by uid 65534/);
    // vale-ctl answers, and -v says what it skipped
    const v = await run(valectlJs, ['-v'], env);
    assert.equal(v.code, 0, v.stderr);
    assert.ok(v.ms < 2000, `vale-ctl took ${v.ms} ms`);
    assert.match(v.stdout, new RegExp(`${live}:a bridge_idx 0`));
    assert.match(v.stderr, /nmts-valelocked not listed: config lock held by live task 1/);

    // the daemon: periodic reclaim every 500 ms over the same files
    daemon = spawn(process.execPath, [daemonJs, '--socket', env.NMTS_SOCKET], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    daemon.stderr!.setEncoding('utf8').on('data', (x: string) => { dlog += x; });
    daemon.stdout!.setEncoding('utf8').on('data', (x: string) => { dlog += x; });
    await waitLine(daemon, /started: socket/, () => dlog);
    await new Promise((res) => setTimeout(res, 1500));
    const m0 = maps(daemon.pid!, dir);
    const until = Date.now() + 10_000;
    let lists = 0, most = 0;
    while (Date.now() < until) {
      most = Math.max(most, maps(daemon.pid!, dir).files);
      const t = Date.now();
      const reply = await daemonRequest(env.NMTS_SOCKET, { id: ++lists, cmd: 'list' });
      assert.ok(Date.now() - t < 2000, `the daemon answered list in ${Date.now() - t} ms`);
      assert.ok((reply.switches as Array<{ name: string }>).some((s) => s.name === live), JSON.stringify(reply));
      await new Promise((res) => setTimeout(res, 250));
    }
    const m1 = maps(daemon.pid!, dir);
    // the live switch and the locked copy (a valid region, waiting for its lock) once each,
    // and in the middle of a pass the file being checked
    assert.ok(m1.files <= 2, `the daemon maps ${m1.files} files of the directory`);
    assert.ok(most <= 3, `the daemon mapped up to ${most} files of the directory at once`);
    assert.ok(m1.all - m0.all < 40, `the daemon's mappings grew from ${m0.all} to ${m1.all} lines over ${lists} listings`);

    // a valid file the daemon has mapped, then truncated: an error, never SIGBUS
    const late = plant('valelate');
    copyFileSync(real, late);
    await new Promise((res) => setTimeout(res, 1200)); // mapped by a periodic pass
    assert.equal(maps(daemon.pid!, dir).files, m1.files + 1, 'the daemon mapped the new file');
    truncateSync(late, 8192);
    await new Promise((res) => setTimeout(res, 1200));
    assert.equal(daemon.exitCode, null, `the daemon died: ${daemon.signalCode} ${dlog}`);
    const reply = await daemonRequest(env.NMTS_SOCKET, { id: 1000, cmd: 'list' });
    assert.ok((reply.switches as Array<{ name: string }>).some((s) => s.name === live));
    // (a periodic pass may be in the middle of checking a file, mapped for that moment: look
    // again until one is not, at most 3 s)
    let files = maps(daemon.pid!, dir).files;
    for (const end = Date.now() + 3000; files !== m1.files && Date.now() < end;) {
      await new Promise((res) => setTimeout(res, 100));
      files = maps(daemon.pid!, dir).files;
    }
    assert.equal(files, m1.files, 'the truncated file is no longer mapped');
    const after = await run(listerJs, ['1'], env);
    assert.equal(after.code, 0, after.stderr);
    assert.match(JSON.stringify(JSON.parse(after.stdout).skipped), /valelate/);
  } finally {
    daemon?.kill('SIGTERM');
    if (daemon && daemon.exitCode === null) await new Promise((res) => { daemon!.once('exit', res); setTimeout(res, 3000); });
    daemon?.kill('SIGKILL');
    holder.stdin!.end();
    await new Promise((res) => { holder.once('exit', res); setTimeout(res, 3000); });
    holder.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
