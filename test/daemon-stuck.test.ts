// A forwarder that will not stop (blocked, as if stuck in the kernel) is terminated after the
// stop timeout, and the daemon itself closes what it held: its AF_XDP (or AF_PACKET) sockets
// and its XDP link, so the interface is left without a program and the process without the
// sockets. Root only (network namespace, veth, XDP); skipped otherwise with the reason.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Netns } from './fixtures/netif-helpers.js';
import { needs } from './fixtures/requires.js';

const skip = needs(['root', 'ip']);
const FIXTURE = fileURLToPath(new URL('./fixtures/stuck-forwarder.js', import.meta.url));

describe('a stuck forwarder is terminated without leaving its sockets or XDP link open', { skip }, () => {
  const ns = new Netns('stuck');
  if (!skip) ns.create([['stka', 'stkb'], ['stkc', 'stkd']]);
  after(() => ns.destroy());

  for (const backend of ['af_xdp', 'af_packet']) {
    test(`${backend}: detach of a blocked forwarder: terminated, its fds closed by the daemon, no XDP program left`, { timeout: 60_000 }, () => {
      const out = ns.run(process.execPath, [FIXTURE, `valestk${process.pid % 10000}`, 'stka', backend], { env: { ...process.env, NMTS_SHARED: '1' } });
      const r = JSON.parse(out.trim().split('\n').pop()!) as { backend: string; before: string[]; during: string[]; after: string[]; logs: string[]; list: unknown[] };
      assert.equal(r.backend, backend);
      assert.ok(r.during.length > r.before.length, `attaching opened sockets: ${r.during.join(', ')}`);
      assert.deepEqual(r.after, r.before, 'every socket / BPF fd of the forwarder is closed');
      assert.ok(r.logs.some((l) => /did not stop within 0\.5 s; terminated; closed what it held: [1-9]\d* socket\(s\)/.test(l)), r.logs.join('\n'));
      if (backend === 'af_xdp') assert.ok(r.logs.some((l) => /its XDP link \(the program left the interface\)/.test(l)), r.logs.join('\n'));
      assert.deepEqual(r.list, [], 'nothing listed as stuck');
      assert.doesNotMatch(ns.ip('-d', 'link', 'show', 'stka'), /prog\/xdp|xdpgeneric|xdpdrv/, 'no XDP program on the interface');
    });
  }

  test('two attachments served by one thread: the stuck thread terminated closes both, the other is reported detached', { timeout: 60_000 }, () => {
    const sw = `valestk${process.pid % 10000}`;
    const out = ns.run(process.execPath, [FIXTURE, sw, 'stka', 'af_xdp', 'stkc'], { env: { ...process.env, NMTS_SHARED: '1' } });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { sharedWith: string[]; before: string[]; during: string[]; after: string[]; logs: string[]; list: unknown[] };
    assert.deepEqual(r.sharedWith, [`${sw}:stkc`], 'one thread for both (the default)');
    assert.ok(r.during.length >= r.before.length + 2, `both attachments opened sockets: ${r.during.join(', ')}`);
    assert.deepEqual(r.after, r.before, 'every socket / BPF fd of both attachments is closed');
    assert.ok(r.logs.some((l) => new RegExp(`terminated \\(and with it ${sw}:stkc, served by the same thread: detached\\)`).test(l)), r.logs.join('\n'));
    assert.deepEqual(r.list, [], 'nothing listed');
    for (const i of ['stka', 'stkc']) assert.doesNotMatch(ns.ip('-d', 'link', 'show', i), /prog\/xdp|xdpgeneric|xdpdrv/, `no XDP program on ${i}`);
  });
});
