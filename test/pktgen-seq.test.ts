// rxseq must report what it sees: a gap and an out-of-order frame are counted and printed in
// pkt-gen's words. Frames are placed in a pipe by hand, then pkt-gen's rx loop reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { open } from '../src/index.js';
import { rxLoop, type LoopConfig } from '../src/apps/pkt-gen/loops.js';
import { ROW, S } from '../src/apps/pkt-gen/shared.js';
import { UdpFrameTemplate, writeSeq } from '../src/packet/frame-builder.js';

test('rxseq counts and reports a sequence gap and an out-of-order frame', () => {
  const tx = open('seqgap{1'), rx = open('seqgap}1');
  const tmpl = new UdpFrameTemplate({ family: 4, srcMac: '02:00:00:00:00:01', dstMac: '02:00:00:00:00:02', src: '10.0.0.1:1234', dst: '10.1.0.1:1234', frameLen: 60 });
  const r = tx.txRings[0];
  const seqs = [0, 1, 2, 5, 6, 4, 7];
  let h = r.head;
  for (const s of seqs) {
    tmpl.write(tx.u8, r.buf(h));
    writeSeq(tx.u8, r.buf(h), s, 4);
    r.setLen(h, 60);
    h = r.next(h);
  }
  r.advance(h);
  tx.txsync();
  const frame = new Uint8Array(60);
  tmpl.write(frame, 0);
  const cfg: LoopConfig = {
    fn: 'rxseq', count: seqs.length, burst: 512, rate: 0, onFull: 'none', frame, frameLen: 60, frameLenMin: 60, template: tmpl,
    randomSrc: false, randomDst: false, frags: 1, fragSize: 0, vhdr: 0, rubbish: false, dump: false,
    exitOnIdle: false, family: 4, reportMs: 1000,
  };
  const stats = new Float64Array(ROW), ctrl = new Int32Array(8), lines: string[] = [];
  stats[S.minSpace] = -1;
  rxLoop(rx, cfg, { stats, row: 0, ctrl, log: (l) => lines.push(l) });
  assert.equal(stats[S.pkts], seqs.length);
  assert.equal(stats[S.bytes], seqs.length * 60);
  // expected 3 got 5 (gap), expected 7 got 4 (out of order), expected 5 got 7 (gap)
  assert.equal(stats[S.seqErrors], 3);
  assert.deepEqual(lines, [
    'Sequence GAP: exp 3 found 5',
    'Sequence OUT OF ORDER: exp 7 found 4',
    'Sequence GAP: exp 5 found 7',
  ]);
  tx.close();
  rx.close();
});
