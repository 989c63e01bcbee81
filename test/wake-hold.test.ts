// Port.holdWakes()/releaseWakes(): several syncs of a pipe end in a row wake the other end's
// sleepers once, after the last of them, and never lose the wake-up. The other end's waiters
// count is raised by hand (as a sleeper announces itself, core/wait.ts), so that each wake-up
// shows as one step of its sequence word, deterministically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, POLLIN, POLLOUT } from '../src/index.js';
import { PR } from '../src/core/layout.js';
import { Host } from '../src/host/host.js';
import { eth, ipv4, udp } from './fixtures/vnf-frames.js';

function pair(name: string) {
  const m = open(`${name}{1`), s = open(`${name}}1`);
  const i32 = m.region.i32;
  const seq = (s.rec + PR.wakeSeq) >> 2, waiters = (s.rec + PR.waiters) >> 2;
  Atomics.add(i32, waiters, 1); // "a thread sleeps on the slave end"
  const wakes = (): number => Atomics.load(i32, seq);
  return { m, s, wakes, done: () => { Atomics.sub(i32, waiters, 1); s.close(); m.close(); } };
}

test('two publishing syncs wake the peer twice, or once when held, and the held wake is never lost', () => {
  const { m, s, wakes, done } = pair(`wh${process.pid}`);
  try {
    const send = (): void => { m.inject(new Uint8Array(60)); m.txsync(); };
    // release on the master's rx side needs frames from the slave first
    s.inject(new Uint8Array(60)); s.txsync();
    m.rxsync();
    const r = m.rxRings[0];
    assert.equal(r.space(), 1);

    let w = wakes();
    send(); // publish: wake
    r.advance(r.tail); m.rxsync(); // release: wake
    assert.equal(wakes() - w, 2, 'unheld: one wake per publishing sync');

    s.inject(new Uint8Array(60)); s.txsync(); m.rxsync();
    w = wakes();
    m.holdWakes();
    m.inject(new Uint8Array(60));
    m.txsync();
    r.advance(r.tail);
    m.rxsync();
    assert.equal(wakes() - w, 0, 'held: nobody woken yet');
    m.releaseWakes();
    assert.equal(wakes() - w, 1, 'released: woken once');
    m.releaseWakes(); // an extra release wakes nothing more
    assert.equal(wakes() - w, 1);

    // nested holds wake at the outer release; a sync with nothing to publish wakes nobody
    w = wakes();
    m.holdWakes(); m.holdWakes();
    send();
    m.releaseWakes();
    assert.equal(wakes() - w, 0, 'inner release keeps it');
    m.releaseWakes();
    assert.equal(wakes() - w, 1);
    w = wakes();
    m.holdWakes(); m.txsync(); m.rxsync(); m.releaseWakes();
    assert.equal(wakes() - w, 0, 'nothing published, nobody woken');
    // the slave received every frame sent
    s.rxsync();
    assert.equal(s.rxRings[0].space(), 3);
  } finally {
    done();
  }
});

test('poll() syncs both directions and wakes the peer once', () => {
  const { m, s, wakes, done } = pair(`wp${process.pid}`);
  try {
    s.inject(new Uint8Array(60)); s.txsync();
    m.rxsync();
    const r = m.rxRings[0];
    r.advance(r.tail); // released locally, published by the next rxsync
    m.inject(new Uint8Array(60)); // queued, published by the next txsync
    const w = wakes();
    m.poll(POLLIN | POLLOUT, 0);
    assert.equal(wakes() - w, 1);
    s.rxsync();
    assert.equal(s.rxRings[0].space(), 1, 'the frame went');
  } finally {
    done();
  }
});

test('a host\'s answers and the release of its batch reach the peer with one wake-up', () => {
  const name = `wo${process.pid}`;
  const { m, s, wakes, done } = pair(name);
  try {
    // the host sits on the master end; frames come from the slave end
    const h = new Host({ port: m, ip: '10.0.0.1/24', mac: '02:00:00:00:00:01', gratuitous: false, arp: { static: [{ ip: '10.0.0.2', mac: '02:00:00:00:00:02' }] } });
    const ep = h.udp(7);
    s.inject(eth('02:00:00:00:00:01', '02:00:00:00:00:02', 0x0800, ipv4('10.0.0.2', '10.0.0.1', 17, udp('10.0.0.2', '10.0.0.1', 12345, 7, [0xab, 0xcd]))));
    s.txsync();
    assert.equal(h.poll(0), 1);
    assert.equal(ep.recv(), 1);
    assert.ok(ep.reply(0));
    const w = wakes();
    h.poll(0); // pushes the answer and releases the batch
    assert.equal(wakes() - w, 1, 'one wake-up for both');
    s.rxsync();
    assert.equal(s.rxRings[0].space(), 1, 'the answer arrived');
    h.close();
  } finally {
    done();
  }
});
