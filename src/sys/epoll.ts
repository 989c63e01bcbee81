// An epoll instance as one stable descriptor standing for a changing set of others: a port whose
// descriptors come and go (a vhost-user port: its listening socket, then the front end's
// connection and kick eventfds) gives poll(2) and pollPorts() this one fd, readable (level-
// triggered) while any member is. Only the set is managed here: nobody calls epoll_wait; the
// caller services its members when poll(2) says the epoll fd is readable.
import koffi from 'koffi';
import { SysError } from './libc.js';

const libc = koffi.load('libc.so.6');
const _epollCreate1 = libc.func('int epoll_create1(int)');
const _epollCtl = libc.func('int epoll_ctl(int, int, int, void *)');

const EPOLL_CLOEXEC = 0o2000000;
const EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2;
const EPOLLIN = 1;
const ENOENT = 2, EBADF = 9, EEXIST = 17;

/** A new epoll instance (close-on-exec). */
export function epollCreate(): number {
  const fd = _epollCreate1(EPOLL_CLOEXEC) as number;
  if (fd < 0) throw new SysError('epoll_create1', '', koffi.errno());
  return fd;
}

// struct epoll_event { uint32_t events; uint64_t data; } packed on x86-64 (12 bytes), 16 on arm64
const ev = Buffer.alloc(16);

/** Watch `fd` for input (already watched: nothing to do). */
export function epollAdd(epfd: number, fd: number): void {
  ev.writeUInt32LE(EPOLLIN, 0);
  if ((_epollCtl(epfd, EPOLL_CTL_ADD, fd, ev) as number) < 0) {
    const e = koffi.errno();
    if (e !== EEXIST) throw new SysError('epoll_ctl(ADD)', String(fd), e);
  }
}

/** Stop watching `fd` (not watched, or closed meanwhile: nothing to do). */
export function epollDel(epfd: number, fd: number): void {
  if ((_epollCtl(epfd, EPOLL_CTL_DEL, fd, ev) as number) < 0) {
    const e = koffi.errno();
    if (e !== ENOENT && e !== EBADF) throw new SysError('epoll_ctl(DEL)', String(fd), e);
  }
}
