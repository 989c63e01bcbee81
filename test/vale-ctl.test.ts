// `nmts vale-ctl`: netmap's listing and query formats, its error lines and exit codes, the
// Linux-interface requests' errors when no daemon answers (attaching for real is
// netif-vale.test's), and who may open a switch (file owner and mode of
// /dev/shm/nmts-<switch>, checked by running a process as another user).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, cpSync, existsSync, mkdtempSync, rmSync, statSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open, type Port } from '../src/index.js';
import { regionPath } from '../src/core/shm.js';
import { valeCtl, parseValeCtlArgs, parseRingConfig, parsePollConfig, ValeCtlUsageError } from '../src/apps/vale-ctl/vale-ctl.js';
import { valeCtlAsync } from '../src/apps/vale-ctl/attach.js';
import { valeCtlCommand } from '../src/cli/vale-ctl.js';
import { missing } from './fixtures/requires.js';

// this file runs as dist/test/vale-ctl.test.js
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIX = fileURLToPath(new URL('./fixtures/', import.meta.url));
const CLI = join(FIX, 'valectl-cli.js');
const HOLDER = join(FIX, 'valectl-holder.js');
const OPENER = join(FIX, 'valectl-open.js');
const ID = process.pid;
// -a/-h/-d/-p/-P talk to the nmts daemon: a socket no daemon listens on, so that no test here
// reaches a daemon running on the machine (and none is started: see the tests)
process.env.NMTS_SOCKET = join(tmpdir(), `nmts-valectl-${ID}.sock`);

interface Result { status: number | null; stdout: string; stderr: string }

/** Run a node script (optionally through a command that changes the user); killed after 10 s. */
function run(script: string, args: string[], opts: { env?: NodeJS.ProcessEnv; prefix?: string[] } = {}): Promise<Result> {
  const argv = [...(opts.prefix ?? []), process.execPath, script, ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const valeCtlChild = (...args: string[]): Promise<Result> => run(CLI, args);

/** A child holding ports open until release() (stdin closed) or kill(). */
interface Holder { child: ChildProcess; release(): Promise<void>; kill(): Promise<void> }

function holder(names: string[], env: NodeJS.ProcessEnv = process.env): Promise<Holder> {
  const child = spawn(process.execPath, [HOLDER, ...names], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const h: Holder = {
    child,
    release: async () => { child.stdin!.end(); await exited; },
    kill: async () => { child.kill('SIGKILL'); await exited; },
  };
  return new Promise<Holder>((resolve, reject) => {
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      if (out.startsWith('ready\n')) resolve(h);
      else if (out.includes('\n')) reject(new Error(`holder: ${out.trim()}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`holder exited early (${code}): ${out}`)));
  }).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
}

/** Start several holders; if one fails, kill the others before throwing. */
async function holders3(specs: Array<[string[], NodeJS.ProcessEnv]>): Promise<Holder[]> {
  const r = await Promise.allSettled(specs.map(([names, env]) => holder(names, env)));
  const ok = r.flatMap((x) => (x.status === 'fulfilled' ? [x.value] : []));
  const bad = r.find((x): x is PromiseRejectedResult => x.status === 'rejected');
  if (bad) {
    await Promise.all(ok.map((h) => h.kill()));
    throw bad.reason;
  }
  return ok;
}

/** Listing lines as {name, bridge, port}; every line must have netmap's format. */
function parseListing(stdout: string): Array<{ name: string; bridge: number; port: number }> {
  return stdout.split('\n').filter((l) => l !== '').map((l) => {
    const m = /^(vale[A-Za-z0-9_]*:\S+) bridge_idx (\d+) port_idx (\d+)$/.exec(l);
    assert.ok(m, `listing line in netmap's format: ${JSON.stringify(l)}`);
    return { name: m[1], bridge: Number(m[2]), port: Number(m[3]) };
  });
}

/** bridge_idx must be each switch's position in the sorted list of the switches listed. */
function checkBridgeIndices(rows: Array<{ name: string; bridge: number }>): Map<string, number> {
  const switches = [...new Set(rows.map((r) => r.name.split(':')[0]))].sort();
  const idx = new Map(switches.map((s, i) => [s, i]));
  for (const r of rows) assert.equal(r.bridge, idx.get(r.name.split(':')[0]), `bridge_idx of ${r.name}`);
  return idx;
}

const ifExists = (n: string): boolean => existsSync(`/sys/class/net/${n}`);

describe('vale-ctl', () => {
  test('no arguments: one line per port of every switch, bridge_idx by sorted switch name, port_idx by port index; dead ports leave', async () => {
    const A = `valectlA${ID}`, B = `valectlB${ID}`;
    const ports: Port[] = [];
    const children: Holder[] = [];
    try {
      ports.push(open(`${A}:p0`), open(`${A}:p1`), open(`${B}:q0`));
      const child = await holder([`${A}:c`]); // a port of another process: index 2
      children.push(child);
      const killed = await holder([`${B}:k`]); // another process, killed below
      children.push(killed);
      ports.push(open(`${B}:q1`)); // B: q0 = 0, k = 1, q1 = 2

      const expect = [
        { name: `${A}:p0`, port: 0 }, { name: `${A}:p1`, port: 1 }, { name: `${A}:c`, port: 2 },
        { name: `${B}:q0`, port: 0 }, { name: `${B}:k`, port: 1 }, { name: `${B}:q1`, port: 2 },
      ];
      const mine = (rows: ReturnType<typeof parseListing>): Array<{ name: string; port: number }> =>
        rows.filter((r) => r.name.startsWith(`${A}:`) || r.name.startsWith(`${B}:`)).map(({ name, port }) => ({ name, port }));

      // in this process (library) and as a command (child process): same format
      const lib = valeCtl([]);
      assert.equal(lib.status, 0, lib.stderr);
      const libRows = parseListing(lib.stdout);
      assert.deepEqual(mine(libRows), expect);
      const idx = checkBridgeIndices(libRows);
      assert.ok(idx.get(A)! < idx.get(B)!, 'switches in name order');

      const cli = await valeCtlChild();
      assert.equal(cli.status, 0, cli.stderr);
      assert.equal(cli.stderr, '');
      const cliRows = parseListing(cli.stdout);
      assert.deepEqual(mine(cliRows), expect);
      checkBridgeIndices(cliRows);

      // -v adds the rings, openers and counters to each line (same prefix)
      const verbose = valeCtl(['-v']);
      assert.equal(verbose.status, 0);
      assert.match(verbose.stdout, new RegExp(`^${A}:p1 bridge_idx \\d+ port_idx 1 tx_rings 1 rx_rings 1 tx_slots 1024 rx_slots 1024 openers 1 ` +
        'tx_packets 0 tx_bytes 0 tx_drops 0 rx_packets 0 rx_bytes 0 rx_drops 0$', 'm'));

      // a killed process's port is reclaimed by the listing; a released one closed itself
      await killed.kill();
      await child.release();
      const after = mine(parseListing(valeCtl([]).stdout));
      assert.deepEqual(after, [
        { name: `${A}:p0`, port: 0 }, { name: `${A}:p1`, port: 1 },
        { name: `${B}:q0`, port: 0 }, { name: `${B}:q1`, port: 2 },
      ]);
    } finally {
      await Promise.all(children.map((h) => h.kill())); // no-ops unless an assertion failed
      for (const p of ports) p.close();
    }
    assert.equal(parseListing(valeCtl([]).stdout).filter((r) => r.name.startsWith(`${A}:`) || r.name.startsWith(`${B}:`)).length, 0, 'closed ports are gone');
    assert.equal(existsSync(regionPath(A)), false, 'the switch file went with its last port');
  });

  test('the exact listing, in a switch directory of its own (NMTS_SHM_DIR): nothing else moves bridge_idx', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nmts-valectl-shm-'));
    const env = { ...process.env, NMTS_SHM_DIR: dir };
    try {
      const h1 = await holder(['valeb:x', 'valea:y', 'valea:z', 'pipe{1'], env);
      const h2 = await holder(['valea:w', 'valec:0'], env).catch(async (e: unknown) => { await h1.kill(); throw e; });
      try {
        const [all, l, g, none] = await Promise.all([run(CLI, [], { env }), run(CLI, ['-l', 'valeb:x'], { env }), run(CLI, ['-g', 'valea:w'], { env }), run(CLI, ['-l', 'valeb:y'], { env })]);
        assert.deepEqual(all, { status: 0, stderr: '', stdout: [
          'valea:y bridge_idx 0 port_idx 0',
          'valea:z bridge_idx 0 port_idx 1',
          'valea:w bridge_idx 0 port_idx 2',
          'valeb:x bridge_idx 1 port_idx 0',
          'valec:0 bridge_idx 2 port_idx 0',
          ''].join('\n') });
        assert.deepEqual(l, { status: 0, stderr: '', stdout: 'bridge_idx: 1\nport_idx:   0\n' });
        assert.equal(g.status, 0, g.stderr);
        assert.match(g.stdout, new RegExp(`^memsize:    ${statSync(join(dir, 'nmts-valea')).size}\ntx_slots:   1024\nrx_slots:   1024\ntx_rings:   1\nrx_rings:   1\nmem_id:     \\d+\n$`));
        assert.deepEqual(none, { status: 1, stdout: '', stderr: 'failed to list valeb:y: No such file or directory (switch valeb has no port y)\n' });
      } finally {
        await h2.release();
        await h1.release();
      }
      assert.deepEqual(await run(CLI, [], { env }), { status: 0, stdout: '', stderr: '' }, 'no ports, no lines');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('-l valeX:Y prints bridge_idx and port_idx; -g prints memsize, slots, rings and mem_id', async () => {
    const S = `valectlL${ID}`;
    const a = open(`${S}:a`);
    const b = open(`${S}:b@conf:tx-rings=2,rx-rings=3,tx-slots=256,rx-slots=512`);
    try {
      // other tests may create and remove switches meanwhile, which moves bridge_idx: compare
      // with listings taken just before and just after, and retry if they differ
      const stable = async <T>(query: () => T | Promise<T>, check: (r: T, bridge: number) => void): Promise<void> => {
        for (let attempt = 0; ; attempt++) {
          const before = checkBridgeIndices(parseListing(valeCtl([]).stdout)).get(S);
          const r = await query();
          const after = checkBridgeIndices(parseListing(valeCtl([]).stdout)).get(S);
          assert.notEqual(before, undefined);
          if (before === after || attempt >= 20) return check(r, before!);
        }
      };
      await stable(() => valeCtl(['-l', `${S}:b`]), (l, bridge) => {
        assert.deepEqual(l, { status: 0, stdout: `bridge_idx: ${bridge}\nport_idx:   1\n`, stderr: '' });
      });

      const size = statSync(regionPath(S)).size;
      assert.equal(b.region.size, size);
      const g = valeCtl(['-g', `${S}:b`]);
      assert.equal(g.status, 0, g.stderr);
      assert.equal(g.stdout, [
        `memsize:    ${size}`, 'tx_slots:   256', 'rx_slots:   512', 'tx_rings:   2', 'rx_rings:   3', `mem_id:     ${b.region.memId}`, '',
      ].join('\n'));
      assert.equal(valeCtl(['-g', `${S}:a`]).stdout.split('\n').slice(1, 5).join(' '), 'tx_slots:   1024 rx_slots:   1024 tx_rings:   1 rx_rings:   1');
      // verbose -g: openers and the file with its owner and mode
      const gv = valeCtl(['-v', '-g', `${S}:a`]);
      assert.match(gv.stdout, /^openers: +1$/m);
      assert.match(gv.stdout, new RegExp(`^file: +${regionPath(S)} \\(owner uid \\d+, group gid \\d+, mode 0\\d{3}\\)$`, 'm'));

      // the same through the command, in another process; grouped options as getopt takes them
      await stable(() => valeCtlChild('-vl', `${S}:a`), (cl, bridge) => {
        assert.equal(cl.status, 0, cl.stderr);
        assert.match(cl.stdout, new RegExp(`^bridge_idx: ${bridge}\nport_idx:   0\nfile: `));
      });
      const cg = await valeCtlChild(`-g${S}:b`);
      assert.equal(cg.stdout, g.stdout);

      // -g on a pipe end (pipes live in /dev/shm/nmts-pipe.<parent>)
      const pipe = open(`vctlpipe${ID}{1@conf:rings=2,slots=128`);
      try {
        const gp = valeCtl(['-g', `vctlpipe${ID}}1`]);
        assert.equal(gp.status, 0, gp.stderr);
        assert.match(gp.stdout, /^tx_slots: +128\nrx_slots: +128\ntx_rings: +2\nrx_rings: +2$/m);
      } finally {
        pipe.close();
      }
    } finally {
      a.close();
      b.close();
    }
  });

  test('unknown ports and switches: netmap\'s error line, exit 1', async () => {
    const S = `valectlE${ID}`;
    const a = open(`${S}:a`);
    try {
      assert.deepEqual(valeCtl(['-l', `${S}:nope`]), { status: 1, stdout: '', stderr: `failed to list ${S}:nope: No such file or directory (switch ${S} has no port nope)\n` });
      assert.deepEqual(valeCtl(['-l', `valenone${ID}:x`]), { status: 1, stdout: '', stderr: `failed to list valenone${ID}:x: No such file or directory (no switch valenone${ID})\n` });
      assert.match(valeCtl(['-g', `${S}:nope`]).stderr, new RegExp(`^failed to obtain info for ${S}:nope: No such file or directory \\(`));
      assert.match(valeCtl(['-g', `valenone${ID}:x`]).stderr, new RegExp(`^failed to obtain info for valenone${ID}:x: No such file or directory`));
      assert.equal(valeCtl(['-g', `valenone${ID}:x`]).status, 1);
      assert.equal(existsSync(regionPath(`valenone${ID}`)), false, 'a query creates nothing');
      assert.match(valeCtl(['-l', `${S}`]).stderr, new RegExp(`^failed to list ${S}: Invalid argument`));
      const r = await valeCtlChild('-l', `${S}:nope`);
      assert.deepEqual(r, { status: 1, stdout: '', stderr: `failed to list ${S}:nope: No such file or directory (switch ${S} has no port nope)\n` });
    } finally {
      a.close();
    }
  });

  test('-n/-r of names that cannot be persistent ports, and -g of an interface: the reason, exit 1', async () => {
    // (vale-ctl/tap.ts makes persistent ports; only requests that must fail are checked here:
    // nothing is created)
    const noif = `nmtsnoif${ID % 10000}`;
    assert.equal(ifExists(noif), false);
    const cases: Array<[string[], RegExp]> = [
      [['-r', noif], new RegExp(`^failed to remove ${noif}: No such device or address`)],
      [['-n', `vale${ID}`], new RegExp(`^failed to create vale${ID}: Invalid argument`)],
    ];
    if (ifExists('lo')) {
      cases.push(
        [['-n', 'lo'], /^failed to create lo: File exists/],
        [['-r', 'lo'], /^failed to remove lo: Invalid argument \(lo is not a persistent VALE port/],
        [['-g', 'lo'], /^failed to obtain info for lo: Operation not supported \(-g shows VALE ports and pipes; a Linux interface gets its rings when a program opens netmap:IF/],
      );
    }
    for (const [args, re] of cases) {
      const r = valeCtl(args);
      assert.equal(r.status, 1, `vale-ctl ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, re, `vale-ctl ${args.join(' ')}`);
      assert.equal(r.stderr.split('\n').length, 2, 'one line');
    }
    const cr = await valeCtlChild('-r', noif);
    assert.equal(cr.status, 1);
    assert.match(cr.stderr, new RegExp(`^failed to remove ${noif}: No such device or address`));
  });

  test('-a/-h/-d/-p/-P without a daemon: netmap\'s error lines, exit 1, no daemon started for what must fail', async () => {
    // NMTS_SOCKET (set above) names a socket nobody listens on; interfaces that do not exist
    // fail before any daemon would be started; -d/-p/-P never start one
    const S = `valectlI${ID}`;
    const noif = `nmtsnoif${ID % 10000}`;
    const sock = process.env.NMTS_SOCKET!;
    assert.equal(ifExists(noif), false);
    const cases: Array<[string[], RegExp]> = [
      [['-a', `${S}:${noif}`], new RegExp(`^failed to attach ${S}:${noif}: No such device or address \\(no network interface ${noif}\\)$`, 'm')],
      [['-h', `${S}:${noif}`], new RegExp(`^failed to attach ${S}:${noif}: No such device or address \\(no network interface ${noif}\\)$`, 'm')],
      [['-d', `${S}:${noif}`], new RegExp(`^failed to detach ${S}:${noif}: No such device or address \\(no network interface ${noif}\\)$`, 'm')],
      [['-p', `${S}:${noif}`], new RegExp(`^failed to enable polling on ${S}:${noif}: No such device or address`)],
      [['-a', 'eth0'], /^failed to attach eth0: Invalid argument \(expected valeX:IF/],
      [['-a', `${S}:bad-name`], /^failed to attach .*: Invalid argument \(interface bad-name cannot be named as a netmap port \(netmap:bad-name\): '-' selects a ring/],
      [['-p', `${S}:${noif}`, '-C', '0,1,1'], /^vale-ctl: too many numbers/],
    ];
    if (ifExists('lo')) {
      // lo exists: these reach the point where the daemon would answer, and none does
      const none = `no nmts daemon answers on ${sock}, and attachments live in the daemon`;
      cases.push(
        [['-d', `${S}:lo`], new RegExp(`^failed to detach ${S}:lo: No such device or address \\(lo is not attached to ${S}: ${none}\\)$`, 'm')],
        [['-p', `${S}:lo`, '-C', '0,0'], new RegExp(`^failed to enable polling on ${S}:lo: No such device or address \\(lo is not attached`)],
        [['-P', `${S}:lo`], new RegExp(`^failed to disable polling on ${S}:lo: No such device or address \\(lo is not attached`)],
      );
    }
    for (const [args, re] of cases) {
      const r = await valeCtlAsync(args);
      assert.equal(r.status, args.includes('0,1,1') ? 2 : 1, `vale-ctl ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, re, `vale-ctl ${args.join(' ')}`);
    }
    // -a of an interface that exists, with NMTS_DAEMON_AUTOSTART=0: no daemon, and the reason
    if (ifExists('lo')) {
      process.env.NMTS_DAEMON_AUTOSTART = '0';
      try {
        const r = await valeCtlAsync(['-a', `${S}:lo`]);
        assert.equal(r.status, 1);
        assert.match(r.stderr, new RegExp(`^failed to attach ${S}:lo: (No such file or directory|Connection refused) \\(no nmts daemon answers on ${sock}: start one`));
      } finally {
        delete process.env.NMTS_DAEMON_AUTOSTART;
      }
    }
    assert.equal(existsSync(sock), false, 'no daemon was started');
    assert.equal(existsSync(regionPath(S)), false, 'nothing was created');
    // the synchronous library call cannot talk to the daemon, and says so
    assert.match(valeCtl(['-d', `${S}:${noif}`]).stderr, /use runValeCtlAsync or valeCtlAsync/);
    // the command in a child process: same line, exit status 1
    const ca = await valeCtlChild('-a', `vale0:${noif}`);
    assert.equal(ca.status, 1);
    assert.equal(ca.stderr, `failed to attach vale0:${noif}: No such device or address (no network interface ${noif})\n`);
  });

  test('bad usage: usage text on stderr, exit 2; --help on stdout, exit 0', async () => {
    const bad: Array<[string[], RegExp]> = [
      [['-x'], /^vale-ctl: unknown option -x$/m],
      [['--bogus'], /^vale-ctl: unknown option --bogus$/m],
      [['-H'], /^vale-ctl: unknown option -H$/m],
      [['-l', 'foo'], /^vale-ctl: invalid vale port name: 'foo'$/m],
      [['-g'], /^vale-ctl: option -g requires an argument$/m],
      [['-l', 'vale0:1', 'extra'], /^vale-ctl: unexpected argument 'extra'$/m],
      [['-C', '1024'], /^vale-ctl: -C needs a request/m],
      [['-l', 'vale0:1', '-C', '1024'], /^vale-ctl: -C applies to -n, -a, -h, -p and -P$/m],
      [['-p', 'vale0:lo', '-C', '1,2,3,4'], /^vale-ctl: too many numbers in '1,2,3,4'$/m],
      [['-p', 'vale0:lo', '-C', '0,1,2'], /^vale-ctl: too many numbers in '0,1,2'$/m],
      [['-n', 'tap0', '-C', '10x'], /^vale-ctl: invalid -C '10x': '10x' is not a number$/m],
      [['-n', 'tap0', '-m', 'eth0'], /^vale-ctl: invalid format in '-m eth0' \(missing 'netmap:'\?\)$/m],
    ];
    for (const [args, re] of bad) {
      const r = valeCtl(args);
      assert.equal(r.status, 2, `vale-ctl ${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, re);
      assert.match(r.stderr, /^Usage:$/m);
    }
    const help = valeCtl(['--help']);
    assert.equal(help.status, 0);
    assert.match(help.stdout, /^Usage:\nnmts vale-ctl \[arguments\]\n/);
    assert.match(help.stdout, /-h valeX:IF\tattach IF to valeX together with its host stack/);
    assert.equal(help.stderr, '');

    // valeCtlCommand (what nmts runs) with captured output, and as a child process
    const out: string[] = [];
    const err: string[] = [];
    assert.equal(await valeCtlCommand(['-x'], { out: (l) => out.push(l), err: (l) => err.push(l) }), 2);
    assert.equal(out.length, 0);
    assert.equal(err[0], 'vale-ctl: unknown option -x');
    assert.equal(await valeCtlCommand(['--help'], { out: (l) => out.push(l), err: (l) => err.push(l) }), 0);
    assert.match(out.join('\n'), /^Usage:/);
    const [c1, c2] = await Promise.all([valeCtlChild('-q'), valeCtlChild('--help')]);
    assert.equal(c1.status, 2);
    assert.equal(c1.stdout, '');
    assert.match(c1.stderr, /^vale-ctl: unknown option -q\nUsage:\n/);
    assert.equal(c2.status, 0);
    assert.match(c2.stdout, /^Usage:\n/);
  });

  test('option parsing follows getopt; -C is read as netmap reads it', () => {
    assert.deepEqual(parseValeCtlArgs([]), { request: 'list', name: null, config: null, memId: null, verbose: 0, help: false, vxlan: null, vhostUser: null });
    assert.equal(parseValeCtlArgs(['-vv']).verbose, 2);
    assert.deepEqual(parseValeCtlArgs(['-l']), { request: 'list', name: null, config: null, memId: null, verbose: 0, help: false, vxlan: null, vhostUser: null });
    assert.equal(parseValeCtlArgs(['-lvale0:1']).name, 'vale0:1');
    // vhost-user ports: --vhost-user PATH (or =PATH) goes with -n only
    const vu = parseValeCtlArgs(['-n', 'vm1', '--vhost-user', '/run/vm1.sock']);
    assert.deepEqual([vu.request, vu.name, vu.vhostUser], ['create', 'vm1', '/run/vm1.sock']);
    assert.equal(parseValeCtlArgs(['--vhost-user=/x.sock', '-n', 'vm2']).vhostUser, '/x.sock');
    assert.throws(() => parseValeCtlArgs(['-a', 'vale0:vm1', '--vhost-user', '/x']), /--vhost-user applies to -n/);
    assert.throws(() => parseValeCtlArgs(['-n', 'vm1', '--vhost-user']), /--vhost-user requires a socket path/);
    assert.equal(parseValeCtlArgs(['-vg', 'vale0:1']).request, 'info');
    // the last request wins, as in netmap
    assert.deepEqual(parseValeCtlArgs(['-g', 'vale0:1', '-l', 'vale0:2']).name, 'vale0:2');
    const n = parseValeCtlArgs(['-n', 'tap0', '-C', '2048,1024,4', '-m', 'vale0:1']);
    assert.deepEqual([n.request, n.name, n.config, n.memId], ['create', 'tap0', '2048,1024,4', 'vale0:1']);
    assert.equal(parseValeCtlArgs(['-a', 'vale0:eth0', '-m', 'netmap:eth1']).memId, 'netmap:eth1');
    assert.equal(parseValeCtlArgs(['-h', 'vale0:eth0', '-m7']).memId, '7');
    assert.throws(() => parseValeCtlArgs(['-a', 'vale0:eth0', '-m', 'eth1']), /invalid format in '-m eth1' \(missing 'netmap:'\?\)/);
    assert.deepEqual(parseRingConfig('2048'), { txSlots: 2048, rxSlots: 2048, txRings: 0, rxRings: 0, notes: [] });
    assert.deepEqual(parseRingConfig('2048,1024,4,2'), { txSlots: 2048, rxSlots: 1024, txRings: 4, rxRings: 2, notes: [] });
    assert.deepEqual(parseRingConfig('1,2,3,4,5').notes, ['ignored config: 5']);
    assert.deepEqual(parseRingConfig('8192,1024,32').notes, ['tx_slots 8192 is bounded to 4096', 'tx_rings 32 is bounded to 16', 'rx_rings 32 is bounded to 16']);
    assert.deepEqual(parsePollConfig('0,3'), { mode: 'single', firstCpu: 3, numCpus: 1 });
    assert.deepEqual(parsePollConfig('1,2,4'), { mode: 'multi', firstCpu: 2, numCpus: 4 });
    assert.throws(() => parsePollConfig(''), ValeCtlUsageError);
    assert.throws(() => parsePollConfig('2,0'), /first number is 0/);
  });

  // ---- who may open a switch ----

  /** How to run a command as nobody, or why not. */
  function asOtherUser(): { prefix: (groups?: string) => string[]; groupsSupported: boolean } | string {
    if (process.getuid?.() !== 0) return 'needs root (to run a process as another user)';
    if (spawnSync('setpriv', ['--version']).status === 0) {
      return {
        prefix: (groups) => ['setpriv', '--reuid=65534', '--regid=65534', ...(groups ? [`--groups=${groups}`] : ['--clear-groups']), '--'],
        groupsSupported: true,
      };
    }
    if (spawnSync('runuser', ['--version']).status === 0) {
      return { prefix: () => ['runuser', '-u', 'nobody', '--'], groupsSupported: false };
    }
    return `${missing('setpriv')} or runuser (to run a process as another user)`;
  }

  test('permissions: a switch created with NMTS_MODE=0600 by root cannot be opened by another user (EACCES naming the file and mode); 0666 and group access can', { timeout: 20_000 }, async (t) => {
    const how = asOtherUser();
    if (typeof how === 'string') { t.skip(how); return; }

    // the other user must be able to read the code; if it cannot, run a copy from /tmp
    let fixtures = FIX, tmp = '';
    const probe = spawnSync(how.prefix()[0], [...how.prefix().slice(1), process.execPath, '-e',
      `require('fs').accessSync(${JSON.stringify(OPENER)}, 4); require('fs').accessSync(${JSON.stringify(join(ROOT, 'node_modules', 'koffi'))}, 4)`]);
    if (probe.status !== 0 || process.env.NMTS_TEST_COPY === '1') {
      tmp = mkdtempSync(join(tmpdir(), 'nmts-valectl-'));
      cpSync(join(ROOT, 'dist', 'src'), join(tmp, 'dist', 'src'), { recursive: true });
      cpSync(FIX, join(tmp, 'dist', 'test', 'fixtures'), { recursive: true });
      cpSync(join(ROOT, 'node_modules'), join(tmp, 'node_modules'), { recursive: true });
      cpSync(join(ROOT, 'package.json'), join(tmp, 'package.json'));
      spawnSync('chmod', ['-R', 'a+rX', tmp]);
      chmodSync(tmp, 0o755);
      fixtures = join(tmp, 'dist', 'test', 'fixtures');
    }
    const opener = join(fixtures, 'valectl-open.js'), cli = join(fixtures, 'valectl-cli.js');
    try { accessSync(opener, fsConstants.R_OK); } catch { assert.fail(`cannot read ${opener}`); }

    const envWith = (mode: string | null): NodeJS.ProcessEnv => {
      const env = { ...process.env };
      if (mode === null) delete env.NMTS_MODE;
      else env.NMTS_MODE = mode;
      return env;
    };
    const asNobody = async (script: string, args: string[], groups?: string): Promise<Result> => run(script, args, { prefix: how.prefix(groups), env: envWith(null) });
    const openAsNobody = async (name: string, groups?: string): Promise<{ ok: boolean; code?: string; name?: string; message?: string; uid: number }> => {
      const r = await asNobody(opener, [name], groups);
      assert.equal(r.status, 0, `opener as nobody: ${r.stderr}`);
      return JSON.parse(r.stdout) as { ok: boolean; code?: string; name?: string; message?: string; uid: number };
    };

    const P = `valeperm${ID}`, OK = `valepermok${ID}`, G = `valepermgrp${ID}`;
    const holders = await holders3([
      [[`${P}:a`], envWith('0600')],
      [[`${OK}:a`], envWith('0666')],
      [[`${G}:a`], envWith(null)], // the default, 0660
    ]);
    try {
      const st = statSync(regionPath(P));
      assert.equal(st.uid, 0);
      assert.equal(st.mode & 0o777, 0o600, 'NMTS_MODE=0600 is the file mode (the umask does not narrow it)');
      assert.equal(statSync(regionPath(OK)).mode & 0o777, 0o666);
      assert.equal(statSync(regionPath(G)).mode & 0o777, 0o660, 'default mode 0660');

      const [denied, allowed, noGroup, cliDenied] = await Promise.all([
        openAsNobody(`${P}:b`),
        openAsNobody(`${OK}:b`),
        openAsNobody(`${G}:b`),
        asNobody(cli, ['-l', `${P}:a`]),
      ]);
      // 0600, owned by root: nobody gets EACCES with the file, its owner and mode
      assert.equal(denied.ok, false);
      assert.equal(denied.uid, 65534);
      assert.equal(denied.name, 'NetmapError');
      assert.equal(denied.code, 'EACCES');
      assert.ok(denied.message!.includes(regionPath(P)), denied.message);
      assert.match(denied.message!, /owner uid 0, group gid 0, mode 0600/);
      assert.match(denied.message!, /NMTS_MODE/);
      // vale-ctl as nobody: netmap's error line with the same explanation, exit 1
      assert.equal(cliDenied.status, 1);
      assert.match(cliDenied.stderr, new RegExp(`^failed to list ${P}:a: Permission denied \\(.*${regionPath(P)}.*mode 0600`));
      // 0666: anyone may open
      assert.deepEqual(allowed, { ok: true, uid: 65534 });
      // 0660: only the owner and the file's group (root's group here)
      assert.equal(noGroup.ok, false);
      assert.equal(noGroup.code, 'EACCES');
      assert.match(noGroup.message!, /mode 0660/);
      if (how.groupsSupported) {
        const inGroup = await openAsNobody(`${G}:b`, '0');
        assert.deepEqual(inGroup, { ok: true, uid: 65534 }, 'a member of the file\'s group may open a 0660 switch');
      }
      // root still lists everything; nobody's closed port is gone, the holders' remain
      const rows = parseListing(valeCtl([]).stdout).filter((r) => r.name.startsWith('valeperm') && r.name.includes(String(ID)));
      assert.deepEqual(rows.map((r) => r.name).sort(), [`${G}:a`, `${P}:a`, `${OK}:a`].sort());
      // nobody's verbose listing names the switches it may not read
      const nv = await asNobody(cli, ['-v']);
      assert.equal(nv.status, 0, nv.stderr);
      assert.ok(!nv.stdout.includes(`${P}:a`), 'nobody does not see the 0600 switch');
      assert.ok(nv.stdout.includes(`${OK}:a`), 'nobody sees the 0666 switch');
      assert.match(nv.stderr, new RegExp(`^vale-ctl: switch ${P} not listed: ${regionPath(P)}: Permission denied \\(owner uid 0, group gid 0, mode 0600\\)$`, 'm'));
    } finally {
      await Promise.all(holders.map((h) => h.release()));
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    }
    for (const s of [P, OK, G]) assert.equal(existsSync(regionPath(s)), false, `${s}: the file went with the last port`);
  });
});

test('vale-ctl -v shows each port\'s packets, bytes and drops, both sides', () => {
  const S = `valecnt${ID}`;
  const a = open(`${S}:a`), b = open(`${S}:b@conf:slots=64`);
  try {
    // 100 broadcast frames from a to b, which does not read: 63 fit, 37 are dropped
    const ring = a.txRings[0];
    for (let i = 0; i < 100; i++) {
      const h = ring.head, off = ring.buf(h);
      a.u8.fill(0xff, off, off + 6);
      a.u8.fill(0, off + 6, off + 60);
      a.u8[off + 11] = 0x0a;
      ring.setLen(h, 60);
      ring.setSlotFlags(h, 0);
      ring.advance(ring.next(h));
    }
    a.txsync();
    const v = valeCtl(['-v']);
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, new RegExp(`^${S}:a bridge_idx \\d+ port_idx 0 .* openers 1 tx_packets 100 tx_bytes 6000 tx_drops 37 rx_packets 0 rx_bytes 0 rx_drops 0$`, 'm'));
    assert.match(v.stdout, new RegExp(`^${S}:b bridge_idx \\d+ port_idx 1 .* openers 1 tx_packets 0 tx_bytes 0 tx_drops 0 rx_packets 63 rx_bytes 3780 rx_drops 37$`, 'm'));
    const g = valeCtl(['-v', '-g', `${S}:b`]);
    assert.match(g.stdout, /^rx: +63 packets 3780 bytes 37 drops \(receive ring full\)$/m);
    assert.match(g.stdout, /^tx: +0 packets 0 bytes 0 drops \(not delivered by the switch\)$/m);
  } finally {
    a.close();
    b.close();
  }
});
