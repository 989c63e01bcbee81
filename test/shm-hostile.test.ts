// Hostile participants (issue #9): processes with write access to a switch's file set record
// counts to 0 and 0x7fffffff on live and dead ports, hold the config lock from a live process,
// and truncate the file, while a receiver and the daemon run on that switch and traffic runs
// on a second switch beside it. Nothing may die by a signal or hang; participants of the
// damaged switch may stop with an error message; the second switch loses nothing; vale-ctl
// answers within 2 s throughout.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonRequest } from '../src/apps/daemon/daemon.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const nmts = fileURLToPath(new URL('../../bin/nmts.js', import.meta.url));
const hostileJs = fileURLToPath(new URL('./fixtures/shm-hostile.js', import.meta.url));
const holderJs = fileURLToPath(new URL('./fixtures/valectl-holder.js', import.meta.url));
const daemonJs = fileURLToPath(new URL('./fixtures/daemon-cli.js', import.meta.url));
const valectlJs = fileURLToPath(new URL('./fixtures/valectl-cli.js', import.meta.url));
const base = process.env.NMTS_SHM_DIR ?? '/dev/shm';
const BAD_SIGNALS = new Set(['SIGBUS', 'SIGSEGV', 'SIGABRT', 'SIGILL', 'SIGFPE', 'SIGKILL']);

const children = new Set<ChildProcess>();
after(() => { for (const c of children) c.kill('SIGKILL'); });

interface Proc { child: ChildProcess; out: () => string; exit: Promise<{ code: number | null; signal: string | null }> }

function start(file: string, args: string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, [file, ...args], { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (x: string) => { out += x; });
  child.stderr!.setEncoding('utf8').on('data', (x: string) => { out += x; });
  const exit = new Promise<{ code: number | null; signal: string | null }>((r) => child.once('exit', (code, signal) => { children.delete(child); r({ code, signal }); }));
  return { child, out: () => out, exit };
}

async function until(p: Proc, re: RegExp, timeoutMs = 10_000): Promise<void> {
  const t = Date.now();
  while (!re.test(p.out())) {
    if (Date.now() - t > timeoutMs || p.child.exitCode !== null) throw new Error(`waiting for ${re}: ${p.out()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function valeCtl(env: NodeJS.ProcessEnv): Promise<{ code: number; ms: number; stdout: string; stderr: string; signal: string | null }> {
  const t = Date.now();
  return new Promise((resolve) => execFile(process.execPath, [valectlJs, '-v'], { env, timeout: 10_000 }, (err, stdout, stderr) => {
    const e = err as (Error & { code?: number; signal?: string }) | null;
    resolve({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, ms: Date.now() - t, stdout, stderr, signal: e?.signal ?? null });
  }));
}

async function hostile(env: NodeJS.ProcessEnv, args: string[]): Promise<Proc> {
  const h = start(hostileJs, args, env);
  await until(h, /done/);
  return h;
}

test('hostile participants damage one switch: the other loses nothing, nobody dies by a signal, vale-ctl answers', { timeout: 90_000 }, async () => {
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'hostile-'));
  const env = { ...process.env, NMTS_SHM_DIR: dir, NMTS_MEMORY: '64m', NMTS_SOCKET: join(dir, 'd.sock') };
  const A = 'valehA', B = 'valehB';
  const N = 45_000; // at 3000 pps: traffic on B lasts through every kind of damage to A (15 s)
  try {
    const daemon = start(daemonJs, ['--socket', env.NMTS_SOCKET], env);
    await until(daemon, /started: socket/);
    // switch A: a receiver, a live holder and a holder that dies
    const rxA = start(nmts, ['pkt-gen', '-i', `${A}:rx@conf:slots=256`, '-f', 'rx', '--duration', '60'], env);
    await until(rxA, /Receiving from/);
    const live = start(holderJs, [`${A}:w@conf:slots=256`], env);
    const dead = start(holderJs, [`${A}:v@conf:slots=256`, `${A}:z@conf:slots=256`], env);
    await until(live, /ready/);
    await until(dead, /ready/);
    // switch B: traffic that must arrive whole
    const rxB = start(nmts, ['pkt-gen', '-i', `${B}:rx@conf:slots=4096`, '-f', 'rx', '-n', String(N), '--duration', '60', '--json'], env);
    await until(rxB, /Receiving from/);
    const txB = start(nmts, ['pkt-gen', '-i', `${B}:tx`, '-f', 'tx', '-n', String(N), '-R', '3000', '--duration', '60', '--json'], env);

    const check = async (what: string): Promise<void> => {
      const v = await valeCtl(env);
      assert.equal(v.signal, null, `${what}: vale-ctl killed by ${v.signal}`);
      assert.ok(v.ms < 2000, `${what}: vale-ctl took ${v.ms} ms`);
      assert.equal(v.code, 0, `${what}: ${v.stderr}`);
      assert.match(v.stdout, new RegExp(`${B}:rx `), `${what}: switch ${B} listed`);
      assert.equal(txB.child.exitCode, null, `${what}: traffic on ${B} still running`);
      const t = Date.now();
      await daemonRequest(env.NMTS_SOCKET, { id: 1, cmd: 'list' });
      assert.ok(Date.now() - t < 2000, `${what}: the daemon answered in ${Date.now() - t} ms`);
    };
    await check('before');
    // (a) counts of 0 and 0x7fffffff on ports whose opener then dies, and on live ports
    for (const [port, field] of [['v', 'ntx=2147483647'], ['z', 'nrx=0'], ['z', 'ntx=0'], ['v', 'refs=2147483647'], ['w', 'refs=0'], ['w', 'nrx=2147483647'], ['rx', 'ntx=0']]) {
      await hostile(env, ['poke', A, port, field]);
    }
    dead.child.kill('SIGKILL');
    await dead.exit;
    await new Promise((r) => setTimeout(r, 700)); // a periodic reclaim of the daemon
    await check('after the counts');
    // (b) the config lock, held by a live process for 3 s
    const holder = await hostile(env, ['hold', A, '3000']);
    await check('while the lock is held');
    await check('while the lock is still held');
    await holder.exit;
    // (d) the file truncated (above what the participants touch: below that, a participant
    // that reads its rings gets SIGBUS, a residual risk of write access)
    await hostile(env, ['truncate', A, String(48 << 20)]);
    await new Promise((r) => setTimeout(r, 700));
    await check('after the truncation');
    const v = await valeCtl(env);
    assert.match(v.stderr, new RegExp(`nmts-${A} not listed: .*truncated`), v.stderr);

    const [t, r] = await Promise.all([txB.exit, rxB.exit]);
    assert.deepEqual(t, { code: 0, signal: null }, txB.out());
    assert.deepEqual(r, { code: 0, signal: null }, rxB.out());
    const json = (p: Proc): { packets: number } => JSON.parse(p.out().trim().split('\n').filter((l) => l.startsWith('{')).pop()!);
    assert.equal(json(txB).packets, N);
    assert.equal(json(rxB).packets, N, 'switch B lost nothing');
    // the damaged switch's participants may have stopped with a message, never by a signal
    rxA.child.kill('SIGINT');
    const ra = await rxA.exit;
    assert.ok(!BAD_SIGNALS.has(ra.signal ?? ''), `the receiver on ${A} died by ${ra.signal}: ${rxA.out()}`);
    live.child.stdin!.end();
    const rl = await live.exit;
    assert.ok(!BAD_SIGNALS.has(rl.signal ?? ''), `the holder on ${A} died by ${rl.signal}: ${live.out()}`);
    assert.equal(daemon.child.exitCode, null, `the daemon died: ${daemon.out()}`);
    daemon.child.kill('SIGTERM');
    const rd = await daemon.exit;
    assert.ok(!BAD_SIGNALS.has(rd.signal ?? ''), `the daemon died by ${rd.signal}: ${daemon.out()}`);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
