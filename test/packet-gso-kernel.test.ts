// Our segmentation (src/packet/gso.ts) against the running kernel's: each super-frame is handed
// to Linux with its virtio-net header through an AF_PACKET socket with PACKET_VNET_HDR on one
// end of a veth pair whose checksum and segmentation offloads are off, so the kernel's GSO cuts
// it and completes the checksums; tcpdump on the other end records what Linux sent, and every
// segment must equal, byte for byte, the one our Segmenter writes. The veth pair has names
// unique to this process and is removed at the end; nothing else on the machine is changed.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as net from '../src/sys/net.js';
import { close } from '../src/sys/libc.js';
import * as K from '../src/sys/kernel-abi.js';
import { readPcap } from '../src/packet/pcap.js';
import { Segmenter } from '../src/packet/gso.js';
import {
  VNET_F_NEEDS_CSUM, VNET_GSO_ECN, VNET_GSO_TCPV4, VNET_GSO_TCPV6, VNET_GSO_UDP, VNET_GSO_UDP_L4, VNET_HDR_LEN, VNET_OK, vnetWrite,
} from '../src/packet/vnet-hdr.js';
import { TCP_ACK, TCP_CWR, TCP_FIN, TCP_PSH, payloadOf, superFrame, type SuperFrame } from './fixtures/gso-frames.js';
import { needs } from './fixtures/requires.js';

const PACKET_VNET_HDR = 15; // linux/if_packet.h
const skip = needs(['root', 'ip', 'ethtool', 'tcpdump'], 'a veth pair and AF_PACKET');
const A = `gk${process.pid % 100000}a`;
const B = `gk${process.pid % 100000}b`;
const dir = mkdtempSync(join(tmpdir(), 'nmts-gso-kernel-'));

function sh(...argv: string[]): string {
  return execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

after(() => {
  try { sh('ip', 'link', 'del', A); } catch { /* not made, or gone */ }
  rmSync(dir, { recursive: true, force: true });
});

/** A few more frames from a fixed seed: sizes, MSS, flags, families. */
function seeded(n: number): Array<[SuperFrame, number, number]> {
  const out: Array<[SuperFrame, number, number]> = [];
  let x = 12345;
  const rnd = (m: number): number => { x = (x * 1103515245 + 12345) >>> 0; return (x >>> 8) % m; };
  for (let i = 0; i < n; i++) {
    const family = rnd(2) === 0 ? 4 : 6;
    const tcp = rnd(3) !== 0;
    const mss = 500 + rnd(1000);
    const f: SuperFrame = {
      family, proto: tcp ? 'tcp' : 'udp', payload: payloadOf(mss + rnd(20000), i + 100), partial: true,
      flags: TCP_ACK | (rnd(2) ? TCP_PSH : 0) | (rnd(4) === 0 ? TCP_FIN : 0), seq: rnd(1 << 30) * 4, ipId: rnd(65536), df: rnd(2) === 0,
      tcpOptions: rnd(2) * 12,
    };
    out.push([f, tcp ? (family === 4 ? VNET_GSO_TCPV4 : VNET_GSO_TCPV6) : VNET_GSO_UDP_L4, mss]);
  }
  return out;
}

describe('segments equal the kernel\'s', { skip }, () => {
  test('TSO v4/v6, USO v4/v6, UFO v4, a 64 KiB frame, a VLAN, seeded frames', async () => {
    const frames: Array<[SuperFrame, number, number]> = [
      [{ family: 4, proto: 'tcp', payload: payloadOf(10000, 1), flags: TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, ipId: 0xfffe, df: true, partial: true, tcpOptions: 12 }, VNET_GSO_TCPV4 | VNET_GSO_ECN, 1448],
      [{ family: 6, proto: 'tcp', payload: payloadOf(7000, 2), flags: TCP_ACK | TCP_PSH, partial: true }, VNET_GSO_TCPV6, 1428],
      [{ family: 4, proto: 'udp', payload: payloadOf(5000, 3), ipId: 77, partial: true }, VNET_GSO_UDP_L4, 1472],
      [{ family: 6, proto: 'udp', payload: payloadOf(5000, 4), partial: true }, VNET_GSO_UDP_L4, 1452],
      [{ family: 4, proto: 'udp', payload: payloadOf(5000, 5), ipId: 78, partial: true, df: true }, VNET_GSO_UDP, 1480],
      [{ family: 4, proto: 'tcp', payload: payloadOf(65536 - 66, 6), partial: true, tcpOptions: 12, flags: TCP_ACK | TCP_PSH }, VNET_GSO_TCPV4, 1448],
      [{ family: 4, proto: 'tcp', payload: payloadOf(3000, 7), partial: true, vlans: 1, flags: TCP_ACK | TCP_PSH }, VNET_GSO_TCPV4, 1448],
      ...seeded(12),
    ];
    // what we make
    const s = new Segmenter();
    const ours: string[][] = [];
    for (const [f, type, mss] of frames) {
      const { frame } = superFrame(f);
      s.fragOff[0] = 0; s.fragLen[0] = frame.length;
      assert.equal(s.begin(frame, 1, type, mss), VNET_OK);
      const segs: string[] = [];
      for (let i = 0; i < s.count; i++) {
        const d = new Uint8Array(s.segmentLength(i));
        assert.equal(s.write(i, d, 0, d.length), d.length);
        segs.push(Buffer.from(d).toString('hex'));
      }
      ours.push(segs);
    }
    const total = ours.reduce((a, x) => a + x.length, 0);

    // what Linux makes
    sh('ip', 'link', 'add', A, 'type', 'veth', 'peer', 'name', B);
    sh('ip', 'link', 'set', A, 'up');
    sh('ip', 'link', 'set', B, 'up');
    sh('ethtool', '-K', A, 'tx', 'off', 'tso', 'off', 'gso', 'off');
    // a kernel without UDP segmentation offload on veth segments USO frames in software anyway
    try { sh('ethtool', '-K', A, 'tx-udp-segmentation', 'off'); } catch { /* no such feature here */ }
    const file = join(dir, 'kernel.pcap');
    const td = spawn('tcpdump', ['-i', B, '-w', file, '-U', '-s', '0', '-B', '32768', '--immediate-mode', 'ether src 02:00:00:00:00:01'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    let tdErr = '';
    const listening = new Promise<void>((res, rej) => {
      td.stderr!.on('data', (d: Buffer) => { tdErr += String(d); if (tdErr.includes('listening')) res(); });
      td.on('exit', () => rej(new Error(`tcpdump ended: ${tdErr}`)));
    });
    const exited = new Promise<void>((res) => td.on('exit', () => res()));
    try {
      await listening;
      const fd = net.socket(K.AF_PACKET, K.SOCK_RAW, 0, A);
      try {
        net.setsockopt(fd, K.SOL_PACKET, PACKET_VNET_HDR, 1, A);
        const addr = net.sockaddrLl(net.ifIndex(A), K.ETH_P_ALL);
        for (const [f, type, mss] of frames) {
          const { frame, layout } = superFrame(f);
          const buf = new Uint8Array(VNET_HDR_LEN + frame.length);
          vnetWrite(buf, 0, VNET_HDR_LEN, VNET_F_NEEDS_CSUM, type, layout.hdrEnd, mss, layout.l4, f.proto === 'tcp' ? 16 : 6);
          buf.set(frame, VNET_HDR_LEN);
          assert.equal(net.sendto(fd, buf, buf.length, 0, addr, A), buf.length);
        }
      } finally {
        close(fd);
      }
      // wait for the capture to hold them all (a loaded machine may take a while)
      const deadline = Date.now() + 15_000;
      let seen = 0;
      while (Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        try {
          seen = readPcap(new Uint8Array(readFileSync(file))).packets.length;
        } catch { seen = 0; }
        if (seen >= total) break;
      }
    } finally {
      td.kill('SIGINT');
      await exited;
    }
    const kb = new Uint8Array(readFileSync(file));
    const kernel = readPcap(kb).packets.map((p) => Buffer.from(kb.subarray(p.offset, p.offset + p.capLen)).toString('hex'));
    assert.equal(kernel.length, total, `tcpdump: ${tdErr}`);
    // same segments in the same order, frame by frame
    let k = 0;
    ours.forEach((segs, fi) => {
      segs.forEach((seg, si) => {
        assert.equal(kernel[k], seg, `frame ${fi} segment ${si} differs from the kernel's`);
        k++;
      });
    });
  });
});
