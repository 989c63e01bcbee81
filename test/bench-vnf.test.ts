// bench --vnf (bench/vnf-*.ts): the firewall rows give our firewall and nftables the same 100
// rules. Our parser reads ours as 99 TCP denies and `allow udp`; the frames the rows send (UDP)
// are allowed by the last rule and TCP to a denied port is not; nft (root) accepts the generated
// ruleset in check mode (`nft -c`: nothing is loaded), with the same 99 ports and the mark rules.
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { firewallRules } from '../bench/vnf-vale.js';
import { nftRuleset } from '../bench/vnf-veth.js';
import { parseRules } from '../src/apps/vnf/fw-rules.js';
import { needs } from './fixtures/requires.js';

describe('bench --vnf: the firewall rows\' rules', () => {
  const { ours, deniedTcpPorts } = firewallRules();

  test('ours: 100 rules, 99 TCP ports denied, then allow udp', () => {
    const rules = parseRules(ours, 'bench');
    assert.equal(rules.length, 100);
    assert.equal(deniedTcpPorts.length, 99);
    assert.equal(new Set(deniedTcpPorts).size, 99);
    assert.ok(rules.slice(0, 99).every((r, i) => !r.allow && r.expr === `tcp dst port ${deniedTcpPorts[i]}`), 'denies in order');
    assert.ok(rules[99]!.allow && rules[99]!.expr === 'udp');
  });

  test('nftables: the same ports denied, UDP allowed and marked, marked flows first', () => {
    const nft = nftRuleset('t');
    const drops = [...nft.matchAll(/tcp dport (\d+) drop/g)].map((m) => Number(m[1]));
    assert.deepEqual(drops, deniedTcpPorts);
    const lines = nft.split('\n').map((l) => l.trim());
    const first = lines.indexOf('ct mark 1 accept'), udp = lines.indexOf('meta l4proto udp ct mark set 1 accept');
    assert.ok(first >= 0 && udp > first && lines.indexOf(`tcp dport ${deniedTcpPorts[98]} drop`) < udp);
    assert.match(nft, /policy drop;/);
  });

  test('nft -c accepts the ruleset', { skip: needs(['root', 'nft'], 'nft checks against the kernel') }, () => {
    const r = spawnSync('nft', ['-c', '-f', '-'], { input: nftRuleset('vnfbcheck'), encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
});
