// Socket and interface calls on the loopback interface (no root needed), and the shape of their
// errors: the call, what it did and the interface are named, with the errno's name and text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  NetError, ifIndex, ifMtu, ifFlags, ifHwAddr, ifHardware, socket, setsockopt, getsockopt, getsockoptInt, sendto, poll, PollSet,
  sockoptName, htons, sockaddrLl, close,
} from '../src/sys/net.js';
import { SysError } from '../src/sys/libc.js';
import * as K from '../src/sys/kernel-abi.js';

const sys = (f: string): string => readFileSync(`/sys/class/net/lo/${f}`, 'utf8').trim();

test('loopback: index, MTU, flags and hardware address agree with /sys/class/net/lo', () => {
  assert.equal(ifIndex('lo'), Number(sys('ifindex')));
  assert.equal(ifMtu('lo'), Number(sys('mtu')));
  const f = ifFlags('lo');
  // sysfs shows dev->flags; SIOCGIFFLAGS adds the computed IFF_RUNNING
  assert.equal(f.raw & ~K.IFF_RUNNING, Number(sys('flags')) & 0xffff & ~K.IFF_RUNNING);
  assert.equal(f.loopback, true);
  assert.equal(f.up, (Number(sys('flags')) & K.IFF_UP) !== 0);
  assert.equal(ifHwAddr('lo'), sys('address'));
  assert.equal(ifHardware('lo').type, K.ARPHRD_LOOPBACK);
});

test('a missing interface: ENODEV naming the ioctl and the interface, typed', () => {
  for (const [fn, req] of [[ifIndex, 'SIOCGIFINDEX'], [ifMtu, 'SIOCGIFMTU'], [ifFlags, 'SIOCGIFFLAGS'], [ifHwAddr, 'SIOCGIFHWADDR']] as const) {
    assert.throws(() => fn('nmts-eth9'), (e: unknown) => {
      assert.ok(e instanceof NetError && e instanceof SysError);
      assert.equal(e.message, `ioctl(${req}, nmts-eth9): ENODEV (No such device)`);
      assert.equal(e.call, 'ioctl');
      assert.equal(e.op, req);
      assert.equal(e.ifname, 'nmts-eth9');
      assert.equal(e.errno, K.ENODEV);
      assert.equal(e.code, 'ENODEV');
      return true;
    });
  }
  assert.throws(() => ifIndex('a-name-far-too-long'), /^NetError: ioctl\(ifname, a-name-far-too-long\): EINVAL .*1-15 bytes/);
});

test('socket options: an int round trip, and errors naming the option and the interface', () => {
  const fd = socket(K.AF_INET, K.SOCK_DGRAM, 0, 'lo');
  try {
    setsockopt(fd, K.SOL_SOCKET, K.SO_RCVBUF, 65536, 'lo');
    assert.ok(getsockoptInt(fd, K.SOL_SOCKET, K.SO_RCVBUF, 'lo') >= 65536); // the kernel doubles it
    assert.throws(() => setsockopt(fd, K.SOL_XDP, K.XDP_UMEM_REG, new Uint8Array(32), 'lo'),
      (e: unknown) => e instanceof NetError && e.message === 'setsockopt(XDP_UMEM_REG, lo): ENOPROTOOPT (Protocol not available)');
    assert.throws(() => getsockopt(fd, K.SOL_PACKET, K.PACKET_STATISTICS, new Uint8Array(12), 'lo'), /^NetError: getsockopt\(PACKET_STATISTICS, lo\): EOPNOTSUPP/);
    assert.throws(() => sendto(fd, new Uint8Array(1), 1, K.MSG_DONTWAIT, null, 'lo'), /^NetError: sendto\(lo\): EDESTADDRREQ/);
    assert.equal(sendto(fd, new Uint8Array(1), 1, K.MSG_DONTWAIT, null, 'lo', [K.EDESTADDRREQ]), -K.EDESTADDRREQ);
    assert.equal(poll(fd, K.POLLOUT, 0) & K.POLLOUT, K.POLLOUT, 'an idle datagram socket is writable');
    const set = new PollSet([fd], K.POLLIN);
    assert.equal(set.poll(0), 0, 'and has nothing to read');
  } finally {
    close(fd);
  }
  assert.throws(() => socket(4242, K.SOCK_RAW, 0, 'eth9'), /^NetError: socket\(4242, eth9\): EAFNOSUPPORT/);
});

test('helpers: option names, htons, sockaddr_ll', () => {
  assert.equal(sockoptName(K.SOL_XDP, K.XDP_STATISTICS), 'XDP_STATISTICS');
  assert.equal(sockoptName(K.SOL_PACKET, K.PACKET_QDISC_BYPASS), 'PACKET_QDISC_BYPASS');
  assert.equal(sockoptName(K.SOL_XDP, 99), 'SOL_XDP/99');
  assert.equal(htons(K.ETH_P_ALL), 0x0300);
  const sa = sockaddrLl(7, K.ETH_P_IP, Uint8Array.of(2, 0, 0, 0, 0, 1));
  assert.equal(sa.length, 20);
  assert.deepEqual([...sa.subarray(0, 12)], [17, 0, 0x08, 0x00, 7, 0, 0, 0, 0, 0, 0, 6]);
});
