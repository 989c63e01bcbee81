// Port.holdWakes()/releaseWakes() (core/wait.ts, per thread): several syncs in a row wake the
// other end's sleepers once, after the last of them, and never lose the wake-up; KeptWakes
// (apps/common/kept-wakes.ts) keeps a forwarding thread's wake-ups over several rounds. The other end's waiters
// count is raised by hand (as a sleeper announces itself, core/wait.ts), so that each wake-up
// shows as one step of its sequence word, deterministically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open, POLLIN, POLLOUT } from '../src/index.js';
import { PR, RH } from '../src/core/layout.js';
import { Host } from '../src/host/host.js';
import { eth, ipv4, udp } from './fixtures/vnf-frames.js';
import { flushWakes, heldWakes, holdWakes, releaseWakes, wakePort } from '../src/core/wait.js';
import { KeptWakes } from '../src/apps/common/kept-wakes.js';

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

test('held wake-ups are per thread: a VALE delivery is kept too, each sleeper woken once, a region\'s pollers once, a full table wakes at once', () => {
  const sw = `valewk${process.pid}`;
  const a = open(`${sw}:a`), b = open(`${sw}:b`);
  const i32 = b.region.i32;
  const seq = (b.rec + PR.wakeSeq) >> 2, waiters = (b.rec + PR.waiters) >> 2;
  Atomics.add(i32, waiters, 1); // "a thread sleeps on b"
  const wakes = (): number => Atomics.load(i32, seq);
  const bcast = new Uint8Array(60).fill(0xff, 0, 6); // broadcast: the switch forwards it to b
  try {
    let w = wakes();
    holdWakes();
    for (let i = 0; i < 3; i++) { a.inject(bcast); a.txsync(); } // three deliveries to b
    assert.equal(heldWakes(), 1, 'one sleeper kept, however many deliveries');
    assert.equal(wakes() - w, 0);
    flushWakes(); // done now, still holding
    assert.equal(wakes() - w, 1);
    a.inject(bcast); a.txsync();
    releaseWakes();
    assert.equal(wakes() - w, 2, 'the release wakes what the flush left');
    assert.equal(heldWakes(), 0);
    b.rxsync();
    assert.equal(b.rxRings[0].space(), 4, 'every frame delivered');

    // more distinct sleepers than the table holds: the extra ones are woken at once, none lost.
    // Port numbers below the object area wake only the region's word for pollers of several
    // ports (core/wait.ts), whose waiters count is raised by hand as above
    const region = b.region, any = RH.anyWakeSeq >> 2;
    Atomics.add(region.i32, RH.anyWaiters >> 2, 1);
    try {
      const anyWakes = (): number => Atomics.load(region.i32, any);
      const w0 = anyWakes();
      holdWakes();
      for (let p = 0; p < 40; p++) wakePort(region, p);
      const kept = heldWakes();
      assert.ok(kept > 0 && kept < 40, `some kept (${kept}), the rest woken at once`);
      assert.equal(anyWakes() - w0, 40 - kept);
      releaseWakes();
      assert.equal(heldWakes(), 0);
      assert.equal(anyWakes() - w0, 40 - kept + 1, 'the kept ones: the region\'s word once for all of them');
    } finally {
      Atomics.sub(region.i32, RH.anyWaiters >> 2, 1);
    }
  } finally {
    Atomics.sub(i32, waiters, 1);
    b.close();
    a.close();
  }
});

test('KeptWakes: wakes after a round that moved nothing, after maxFrames frames or maxRounds rounds, at flush and at pause', () => {
  const { m, s, wakes, done } = pair(`wk${process.pid}`);
  const send = (): void => { m.inject(new Uint8Array(60)); m.txsync(); };
  try {
    const k = new KeptWakes(100, 4);
    k.start();
    let w = wakes();
    send(); k.afterRound(60);
    assert.equal(wakes() - w, 0, 'kept: 60 frames, one round');
    send(); k.afterRound(50);
    assert.equal(wakes() - w, 1, '110 frames >= 100: woken');
    w = wakes();
    for (let r = 1; r <= 3; r++) { send(); k.afterRound(1); }
    assert.equal(wakes() - w, 0, 'three rounds of one frame: kept');
    send(); k.afterRound(1);
    assert.equal(wakes() - w, 1, 'the fourth round: woken');
    w = wakes();
    send(); k.afterRound(1); k.afterRound(0);
    assert.equal(wakes() - w, 1, 'a round that moved nothing wakes (the thread may sleep next)');
    w = wakes();
    send(); k.afterRound(1);
    k.flush();
    assert.equal(wakes() - w, 1, 'flush: a full destination');
    w = wakes();
    send(); k.afterRound(1);
    k.pause();
    assert.equal(wakes() - w, 1, 'pause: before a sleep');
    send();
    assert.equal(wakes() - w, 2, 'paused: nothing kept');
    k.resume();
    send(); k.afterRound(1);
    assert.equal(wakes() - w, 2);
    k.stop();
    assert.equal(wakes() - w, 3, 'stop: nothing stays kept');
    assert.equal(heldWakes(), 0);
    s.rxsync();
    assert.equal(s.rxRings[0].space(), 11, 'every frame delivered');
  } finally {
    done();
  }
});

test('a thread never sleeps on wake-ups it keeps: sleepOn does them first', () => {
  const { m, s, wakes, done } = pair(`wz${process.pid}`);
  try {
    const w = wakes();
    holdWakes();
    m.inject(new Uint8Array(60)); m.txsync(); // kept
    assert.equal(wakes() - w, 0);
    m.poll(POLLIN, 5); // nothing to read: poll sleeps 5 ms on m's word, after doing the kept wake-up
    assert.equal(wakes() - w, 1, 'the peer was woken before this thread slept');
    assert.equal(heldWakes(), 0);
    releaseWakes();
    assert.equal(wakes() - w, 1, 'nothing more at the release');
    s.rxsync();
    assert.equal(s.rxRings[0].space(), 1, 'the frame went');
  } finally {
    done();
  }
});
