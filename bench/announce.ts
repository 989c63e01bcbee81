// The learning frame of the VALE cases: a receiver sends one frame from its MAC before the
// sender starts, so that the switch has learned where that MAC is and the sender's frames
// go to it as learned unicast, the way the C references (bench/ref/ref.c) seed their MAC
// table. Without it, pkt-gen's receiver never sends, and every frame for it is flooded (on a
// two-port switch to that same port, through the switch's grouping and merge path).
import type { Port } from '../src/core/port.js';
import { UdpFrameTemplate } from '../src/packet/frame-builder.js';

/** Send one 60-byte frame from `srcMac` on `port`'s first tx ring (it floods; nobody needs to get it). */
export function announceMac(port: Port, srcMac: string): void {
  const t = port.txRings[0];
  if (!t) throw new Error(`${port.name}: no tx ring to announce ${srcMac} from`);
  const frame = new Uint8Array(60);
  new UdpFrameTemplate({ family: 4, srcMac, dstMac: 'ff:ff:ff:ff:ff:ff', src: '10.1.0.1:1234', dst: '10.0.0.1:1234', frameLen: 60 }).write(frame, 0);
  port.u8.set(frame, t.buf(t.head));
  t.setLen(t.head, 60);
  t.advance(t.next(t.head));
  port.txsync();
}
