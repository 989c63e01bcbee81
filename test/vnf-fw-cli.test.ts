// nmts vnf firewall and nmts vnf l4lb as processes (no privileges: pipes and VALE ports):
// --json summaries, rules file errors naming the line (exit 1), usage errors (exit 2) including
// bad --workers/--layout values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NMTS } from './fixtures/netif-helpers.js';

const run = (args: string[]): ReturnType<typeof spawnSync> & { stdout: string; stderr: string } =>
  spawnSync(process.execPath, [NMTS, 'vnf', ...args], { encoding: 'utf8', timeout: 30_000 }) as ReturnType<typeof spawnSync> & { stdout: string; stderr: string };

test('firewall: --json summary on two pipe ends; rules errors exit 1 naming the line; usage errors exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nf-cli-'));
  try {
    const rules = join(dir, 'rules');
    writeFileSync(rules, '# two rules\nallow tcp dst port 80\ndeny udp\n');
    const P = `nffc${process.pid}`;
    const r = run(['firewall', '-i', `${P}{1`, '-i', `${P}{2`, '--rules', rules, '--duration', '0.3', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^firewall: .* 2 rules, default deny, zerocopy yes/m);
    const j = JSON.parse(r.stdout.trim()) as { zerocopy: boolean; firewall: { rules: { rule: string; line: number; hits: number }[]; defaultPolicy: string } };
    assert.deepEqual(j.firewall.rules, [{ rule: 'allow tcp dst port 80', line: 2, hits: 0 }, { rule: 'deny udp', line: 3, hits: 0 }]);
    assert.equal(j.firewall.defaultPolicy, 'deny');
    const text = run(['firewall', '-i', `${P}{3`, '-i', `${P}{4`, '--rules', rules, '--default', 'allow', '--duration', '0.2']);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /line 2: allow tcp dst port 80/);
    assert.match(text.stdout, /^dropped 0$/m);
    writeFileSync(rules, 'allow tcp\npermit udp\n');
    const bad = run(['firewall', '-i', `${P}{5`, '-i', `${P}{6`, '--rules', rules]);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /rules:2: a rule starts with allow or deny, not 'permit'/);
    writeFileSync(rules, 'allow tcp port\n');
    assert.match(run(['firewall', '-i', `${P}{5`, '-i', `${P}{6`, '--rules', rules]).stderr, /rules:1: syntax error in filter/);
    const missing = run(['firewall', '-i', `${P}{5`, '-i', `${P}{6`, '--rules', join(dir, 'nope')]);
    assert.equal(missing.status, 1);
    for (const [args, msg] of [
      [['firewall', '-i', 'a{1', '--rules', rules], /two ports/],
      [['firewall', '-i', 'a{1', '-i', 'b{1'], /missing --rules/],
      [['firewall', '-i', 'a{1', '-i', 'b{1', '--rules', rules, '--workers', '100'], /invalid --workers '100': an integer 1\.\.64/],
      [['firewall', '-i', 'a{1', '-i', 'b{1', '--rules', rules, '--layout', 'n-4'], /invalid --layout 'n-4'/],
      [['l4lb', '-i', 'x', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80'], /missing --backend/],
      [['l4lb', '-i', 'x', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--mode', 'tun'], /nat or dsr/],
      [['l4lb', '-i', 'x', '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--layout', 'x'], /invalid --layout 'x'/],
    ] as const) {
      const u = run([...args]);
      assert.equal(u.status, 2, `${args.join(' ')}: ${u.stderr}`);
      assert.match(u.stderr, msg);
    }
    assert.match(run(['firewall', '--help']).stdout, /allow tcp dst port 80/);
    assert.match(run(['l4lb', '--help']).stdout, /--mode nat\|dsr/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('l4lb: backends that never answer ARP are down, the balancer still runs and reports them; off-link backends exit 1', () => {
  const SW = `valenfl${process.pid}`;
  const r = run(['l4lb', '-i', `${SW}:lb`, '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.0.0.11', '--check-interval', '100', '--duration', '0.5', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /backends 10\.0\.0\.11 down/);
  const j = JSON.parse(r.stdout.trim()) as { backends: { ip: string; up: boolean }[]; host: { arpRequestsOut: number } };
  assert.deepEqual(j.backends.map((b) => [b.ip, b.up]), [['10.0.0.11', false]]);
  assert.ok(j.host.arpRequestsOut >= 2, 'health checks are ARP requests');
  const off = run(['l4lb', '-i', `${SW}:lb2`, '--ip', '10.0.0.1/24', '--vip', '10.0.0.100:80', '--backend', '10.1.0.11', '--duration', '0.2']);
  assert.equal(off.status, 1);
  assert.match(off.stderr, /not inside 10\.0\.0\.1\/24/);
});
