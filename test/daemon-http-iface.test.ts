// The daemon's HTTP side for an attached interface: /api/interfaces and /metrics show its
// backend and the kernel's own drops (AF_XDP XDP_STATISTICS, AF_PACKET PACKET_STATISTICS),
// which the forwarder publishes. The forwarder is stalled while the veth peer floods the
// interface, so the socket overflows for real; the figures in both places agree, and what was
// forwarded plus what the kernel dropped is no more than what was sent. Root only (network
// namespace, veth, XDP); skipped otherwise with the reason.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { Netns } from './fixtures/netif-helpers.js';
import { needs } from './fixtures/requires.js';
import { sample } from './fixtures/prom.js';

const skip = needs(['root', 'ip']);
const FIXTURE = fileURLToPath(new URL('./fixtures/daemon-http-iface.js', import.meta.url));
const SENT = 100_000;

interface Iface { interface: string; switch: string; backend: string; counters: { nicToSwitch: { packets: number } }; kernelDrops: { rxRingFull: number; rxOther: number; txInvalid: number; host: number }; kernelDropsTotal: number }

describe('daemon --http: an attached interface\'s backend and the kernel\'s drops', { skip }, () => {
  const ns = new Netns('dash');
  if (!skip) ns.create([['dsha', 'dshb']]);
  after(() => ns.destroy());

  for (const backend of ['af_xdp', 'af_packet']) {
    test(`${backend}: a stalled forwarder's socket overflows: /api/interfaces and /metrics show the kernel's drops`, { timeout: 90_000 }, (t) => {
      const sw = `valedsh${process.pid % 10000}`;
      const out = ns.run(process.execPath, [FIXTURE, sw, 'dsha', 'dshb', backend, String(SENT)], { env: { ...process.env, NMTS_SHARED: '1' }, timeout: 80_000 });
      const r = JSON.parse(out.trim().split('\n').pop()!) as { sent: number; interfaces: { interfaces: Iface[] }; metrics: string; stderr: string };
      assert.equal(r.sent, SENT, r.stderr);
      assert.equal(r.interfaces.interfaces.length, 1);
      const i = r.interfaces.interfaces[0];
      assert.equal(i.interface, 'dsha');
      assert.equal(i.backend, backend);
      const k = i.kernelDrops;
      const rxDrops = k.rxRingFull + k.rxOther;
      assert.ok(rxDrops > 0, `the kernel counted drops: ${JSON.stringify(k)}`);
      if (backend === 'af_packet') assert.equal(k.rxOther, 0); // tp_drops: the ring was full
      assert.equal(i.kernelDropsTotal, rxDrops + k.txInvalid + k.host);
      const forwarded = i.counters.nicToSwitch.packets;
      t.diagnostic(`sent ${SENT}, forwarded ${forwarded}, kernel drops ${JSON.stringify(k)}`);
      assert.ok(forwarded > 0 && forwarded + rxDrops <= SENT, `forwarded ${forwarded} + kernel drops ${rxDrops} <= sent ${SENT}`);
      // the same figures in Prometheus' text, with the backend and the cause as labels
      const l = { interface: 'dsha', switch: sw, backend };
      assert.equal(sample(r.metrics, 'nmts_interface_info', { ...l, port: `${sw}:dsha` }), 1);
      assert.equal(sample(r.metrics, 'nmts_interface_kernel_drops_total', { ...l, direction: 'rx', cause: 'ring_full' }), k.rxRingFull);
      assert.equal(sample(r.metrics, 'nmts_interface_kernel_drops_total', { ...l, direction: 'rx', cause: 'other' }), k.rxOther);
      assert.equal(sample(r.metrics, 'nmts_interface_kernel_drops_total', { ...l, direction: 'tx', cause: 'invalid_desc' }), k.txInvalid);
      assert.equal(sample(r.metrics, 'nmts_interface_kernel_drops_total', { ...l, direction: 'host', cause: 'tap_dropped' }), undefined, 'no host rings attached');
      assert.equal(sample(r.metrics, 'nmts_interface_packets_total', { interface: 'dsha', switch: sw, direction: 'nic_to_switch' }), forwarded);
    });
  }
});
