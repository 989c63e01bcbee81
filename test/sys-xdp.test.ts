// Interface lookups and XDP attachment on a real veth pair inside a throwaway network namespace:
// ifindex/MTU/flags/MAC agree with `ip`, the redirect program attaches through a BPF link that
// `ip -d link` reports, closing the link fd detaches it, and so does SIGKILL of the process that
// holds it. An AF_XDP socket then receives a frame sent on the peer. The namespace is deleted after.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { needs } from './fixtures/requires.js';

const child = fileURLToPath(new URL('./fixtures/sys-xdp-child.js', import.meta.url));
const NS = `nmts-xdp-${process.pid}`;
const A = 'nmxa0', B = 'nmxb0';
const needsRoot = needs(['root', 'ip'], 'network namespaces');

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function runChild(...args: string[]): unknown {
  const out = execFileSync('ip', ['netns', 'exec', NS, process.execPath, child, ...args], { encoding: 'utf8', timeout: 20_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** The id of the XDP program `ip -d link show` reports on dev (native or generic), or null. */
function xdpProg(dev: string): { id: number; generic: boolean } | null {
  const out = ip('-n', NS, '-d', 'link', 'show', 'dev', dev);
  const m = /prog\/xdp id (\d+)/.exec(out);
  return m ? { id: Number(m[1]), generic: /\bxdpgeneric\b/.test(out) } : null;
}

async function until(what: string, cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A child that attached the program and waits for commands on stdin. */
async function attacher(dev = A, mode = 'auto'): Promise<{ proc: ChildProcess; info: { mode: string; progId: number; pid: number }; next: () => Promise<unknown> }> {
  const proc = spawn('ip', ['netns', 'exec', NS, process.execPath, child, 'attach', dev, mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  const next = async (): Promise<unknown> => {
    const r = await lines.next();
    if (r.done) throw new Error('the attaching child exited');
    return JSON.parse(r.value);
  };
  const info = await next() as { mode: string; progId: number; pid: number };
  return { proc, info, next };
}

// skipped test by test (not the suite), so that a skip shows in the run's `# skipped` count
describe('XDP on a veth pair in a network namespace', () => {
  before(() => {
    if (needsRoot) return;
    ip('netns', 'add', NS);
    ip('-n', NS, 'link', 'add', A, 'mtu', '1400', 'type', 'veth', 'peer', 'name', B);
    ip('-n', NS, 'link', 'set', A, 'up');
    ip('-n', NS, 'link', 'set', B, 'up');
    ip('-n', NS, 'link', 'set', 'dev', A, 'address', '02:00:00:00:4e:41');
  });
  after(() => {
    if (needsRoot) return;
    try { ip('netns', 'del', NS); } catch { /* already gone */ }
  });

  test('ifIndex/ifMtu/ifFlags/ifHwAddr agree with `ip`; a missing interface is ENODEV naming the call and the interface', { skip: needsRoot }, () => {
    const r = runChild('info', A) as { index: number; mtu: number; flags: { up: boolean; running: boolean; promisc: boolean }; hw: string; missing: string };
    const j = (JSON.parse(ip('-n', NS, '-j', 'link', 'show', 'dev', A)) as { ifindex: number; mtu: number; address: string; flags: string[] }[])[0];
    assert.equal(r.index, j.ifindex);
    assert.equal(r.mtu, 1400);
    assert.equal(r.mtu, j.mtu);
    assert.equal(r.hw, '02:00:00:00:4e:41');
    assert.equal(r.hw, j.address);
    assert.equal(r.flags.up, true);
    assert.equal(r.flags.running, j.flags.includes('LOWER_UP'));
    assert.equal(r.flags.promisc, false);
    assert.equal(r.missing, 'ioctl(SIOCGIFINDEX, nmts-none0): ENODEV (No such device)');
  });

  test('the redirect program attaches through a BPF link that `ip -d link` reports, and closing the link fd detaches it', { skip: needsRoot }, async () => {
    const { proc, info, next } = await attacher();
    try {
      assert.equal(info.mode, 'native', 'veth supports native XDP: no fallback');
      const p = xdpProg(A);
      assert.ok(p, 'ip -d link shows an XDP program');
      assert.equal(p.id, info.progId, 'the program id we loaded');
      assert.equal(p.generic, false, 'ip shows xdp, not xdpgeneric');
      assert.equal(xdpProg(B), null, 'the peer has no program');
      proc.stdin!.write('detach\n');
      assert.deepEqual(await next(), { detached: true });
      assert.equal(xdpProg(A), null, 'detached once the link fd is closed');
      proc.stdin!.write('exit\n');
      await new Promise((r) => proc.once('exit', r));
    } finally {
      proc.kill('SIGKILL');
    }
  });

  test('a process killed with SIGKILL while holding the link leaves no program attached', { skip: needsRoot }, async () => {
    const { proc, info } = await attacher();
    const exited = new Promise((r) => proc.once('exit', r));
    assert.equal(xdpProg(A)?.id, info.progId);
    assert.equal(info.pid, proc.pid, '`ip netns exec` execs node: the signal goes to the link holder itself');
    proc.kill('SIGKILL');
    await exited;
    await until('the program to go away with its link', () => xdpProg(A) === null);
  });

  test('generic mode: forced on the veth, and the fallback on lo, which has no native XDP', { skip: needsRoot }, async () => {
    for (const [dev, mode] of [[A, 'generic'], ['lo', 'auto']] as const) {
      const { proc, info } = await attacher(dev, mode);
      try {
        assert.equal(info.mode, 'generic', `${dev} ${mode}`);
        const p = xdpProg(dev);
        assert.equal(p?.id, info.progId);
        assert.equal(p?.generic, true, 'ip shows xdpgeneric');
      } finally {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
      await until(`${dev} to be free again`, () => xdpProg(dev) === null);
    }
  });

  test('an AF_XDP socket in the XSKMAP receives a frame sent on the peer by AF_PACKET (copy mode)', { skip: needsRoot }, () => {
    const r = runChild('xsk', A, B) as { mode: string; sent: number; found: boolean; seen: number; stats: Record<string, number> };
    assert.equal(r.sent, 60);
    assert.ok(r.found, `the frame arrived in the RX ring (${r.seen} descriptors seen)`);
    assert.equal(r.stats.rxInvalidDescs, 0);
    assert.equal(typeof r.stats.rxDropped, 'number');
    assert.equal(xdpProg(A), null, 'the child closed its link');
  });
});
