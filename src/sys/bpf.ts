// bpf(2) without libbpf or clang: maps, program load (with the verifier log in the error),
// links, test runs and object info, with bpf_attr built byte by byte from kernel-abi layouts.
import koffi from 'koffi';
import { NetError } from './net.js';
import * as K from './kernel-abi.js';

const libc = koffi.load('libc.so.6');
// syscall(2) declared with fixed arguments (registers on x86-64 and arm64), like libc.ts does.
const _syscall = libc.func('long syscall(long, long, void *, uint32_t)');

/** Room for every bpf_attr layout used here; the kernel accepts a zero-filled prefix of its union. */
const ATTR_SIZE = 128;

const CMD_NAME: Record<number, string> = {
  [K.BPF_MAP_CREATE]: 'BPF_MAP_CREATE', [K.BPF_MAP_LOOKUP_ELEM]: 'BPF_MAP_LOOKUP_ELEM', [K.BPF_MAP_UPDATE_ELEM]: 'BPF_MAP_UPDATE_ELEM',
  [K.BPF_MAP_DELETE_ELEM]: 'BPF_MAP_DELETE_ELEM', [K.BPF_PROG_LOAD]: 'BPF_PROG_LOAD', [K.BPF_PROG_TEST_RUN]: 'BPF_PROG_TEST_RUN',
  [K.BPF_OBJ_GET_INFO_BY_FD]: 'BPF_OBJ_GET_INFO_BY_FD', [K.BPF_LINK_CREATE]: 'BPF_LINK_CREATE', [K.BPF_LINK_DETACH]: 'BPF_LINK_DETACH',
  [K.BPF_PROG_GET_FD_BY_ID]: 'BPF_PROG_GET_FD_BY_ID', [K.BPF_MAP_GET_FD_BY_ID]: 'BPF_MAP_GET_FD_BY_ID',
  [K.BPF_LINK_GET_FD_BY_ID]: 'BPF_LINK_GET_FD_BY_ID', [K.BPF_LINK_GET_NEXT_ID]: 'BPF_LINK_GET_NEXT_ID',
};

/** The verifier rejected a program: `log` holds its log (also at the end of the message). */
export class BpfLoadError extends NetError {
  readonly log: string;
  constructor(name: string, errno: number, log: string) {
    super('bpf', 'BPF_PROG_LOAD', name, errno, log ? `\nverifier log:\n${log.trimEnd()}` : '');
    this.name = 'BpfLoadError';
    this.log = log;
  }
}

export function newAttr(): Buffer {
  return Buffer.alloc(ATTR_SIZE);
}

function ptr(b: ArrayBufferView): bigint {
  return koffi.address(b) as bigint;
}

/** bpf(cmd, attr): the result (an fd for creating commands); throws NetError naming cmd and `subject`. */
export function bpf(cmd: number, attr: Buffer, subject = ''): number {
  const r = Number(_syscall(K.SYS_bpf, cmd, attr, attr.length));
  if (r < 0) throw new NetError('bpf', CMD_NAME[cmd] ?? String(cmd), subject, koffi.errno());
  return r;
}

function writeName(attr: Buffer, off: number, name: string): void {
  // object names: [A-Za-z0-9_.], at most BPF_OBJ_NAME_LEN - 1 bytes
  const n = Buffer.from(name.replace(/[^A-Za-z0-9_.]/g, '_').slice(0, K.BPF_OBJ_NAME_LEN - 1));
  n.copy(attr, off);
}

export interface MapSpec { type: number; keySize: number; valueSize: number; maxEntries: number; flags?: number; name?: string }

export function createMap(spec: MapSpec): number {
  const a = newAttr();
  const L = K.bpf_attr_map_create;
  a.writeUInt32LE(spec.type, L.map_type);
  a.writeUInt32LE(spec.keySize, L.key_size);
  a.writeUInt32LE(spec.valueSize, L.value_size);
  a.writeUInt32LE(spec.maxEntries, L.max_entries);
  a.writeUInt32LE(spec.flags ?? 0, L.map_flags);
  if (spec.name) writeName(a, L.map_name, spec.name);
  return bpf(K.BPF_MAP_CREATE, a, spec.name ?? '');
}

/** BPF_MAP_UPDATE_ELEM with raw key and value bytes. */
export function mapUpdate(mapFd: number, key: Uint8Array, value: Uint8Array, flags: number = K.BPF_ANY, subject = ''): void {
  const a = newAttr();
  const L = K.bpf_attr_map_elem;
  a.writeUInt32LE(mapFd, L.map_fd);
  a.writeBigUInt64LE(ptr(key), L.key);
  a.writeBigUInt64LE(ptr(value), L.value);
  a.writeBigUInt64LE(BigInt(flags), L.flags);
  bpf(K.BPF_MAP_UPDATE_ELEM, a, subject);
}

/** BPF_MAP_DELETE_ELEM of a u32 key. */
export function mapDeleteU32(mapFd: number, key: number, subject = ''): void {
  const k = new Uint32Array([key]);
  const a = newAttr();
  a.writeUInt32LE(mapFd, K.bpf_attr_map_elem.map_fd);
  a.writeBigUInt64LE(ptr(k), K.bpf_attr_map_elem.key);
  bpf(K.BPF_MAP_DELETE_ELEM, a, subject);
}

/** BPF_MAP_UPDATE_ELEM of a u32 key and u32 value (XSKMAP: queue index → AF_XDP socket fd). */
export function mapUpdateU32(mapFd: number, key: number, value: number, flags: number = K.BPF_ANY, subject = ''): void {
  mapUpdate(mapFd, new Uint8Array(new Uint32Array([key]).buffer), new Uint8Array(new Uint32Array([value]).buffer), flags, subject);
}

// ---- instructions: op u8, regs u8 (dst low nibble, src high nibble), off s16, imm s32 ----

/** An eBPF program under construction, 8 bytes per instruction. */
export class Asm {
  private readonly bytes: number[][] = [];
  private insn(op: number, dst: number, src: number, off: number, imm: number): this {
    const b = Buffer.alloc(8);
    b[0] = op;
    b[1] = (dst & 0xf) | ((src & 0xf) << 4);
    b.writeInt16LE(off, 2);
    b.writeInt32LE(imm | 0, 4);
    this.bytes.push([...b]);
    return this;
  }
  /** dst = *(u32 *)(src + off) */
  ldxw(dst: number, src: number, off: number): this {
    return this.insn(K.BPF_LDX | K.BPF_MEM | K.BPF_W, dst, src, off, 0);
  }
  /** dst = the map of fd `mapFd` (lddw with src = BPF_PSEUDO_MAP_FD; two instruction slots) */
  ldMapFd(dst: number, mapFd: number): this {
    this.insn(K.BPF_LD | K.BPF_IMM | K.BPF_DW, dst, K.BPF_PSEUDO_MAP_FD, 0, mapFd);
    return this.insn(0, 0, 0, 0, 0);
  }
  /** dst = imm (64-bit move) */
  movImm(dst: number, imm: number): this {
    return this.insn(K.BPF_ALU64 | K.BPF_MOV | K.BPF_K, dst, 0, 0, imm);
  }
  /** r0 = helper(r1..r5) */
  call(helper: number): this {
    return this.insn(K.BPF_JMP | K.BPF_CALL, 0, 0, 0, helper);
  }
  /** return r0 */
  exit(): this {
    return this.insn(K.BPF_JMP | K.BPF_EXIT, 0, 0, 0, 0);
  }
  get length(): number {
    return this.bytes.length;
  }
  build(): Uint8Array {
    return Uint8Array.from(this.bytes.flat());
  }
}

export interface ProgSpec {
  type: number;
  insns: Uint8Array;
  name: string;
  license?: string;
  expectedAttachType?: number;
  /** bytes of verifier log fetched on failure (default 64 KiB) */
  logSize?: number;
}

/**
 * BPF_PROG_LOAD. Loads without a log first (the cheap path); if the kernel refuses, loads again
 * with log_level 1 and throws a BpfLoadError carrying the verifier's log.
 */
export function loadProgram(spec: ProgSpec): number {
  if (spec.insns.length % 8 !== 0) throw new RangeError(`program ${spec.name}: ${spec.insns.length} bytes is not a whole number of instructions`);
  const license = Buffer.from(`${spec.license ?? 'GPL'}\0`);
  const attempt = (log: Buffer | null): number => {
    const a = newAttr();
    const L = K.bpf_attr_prog_load;
    a.writeUInt32LE(spec.type, L.prog_type);
    a.writeUInt32LE(spec.insns.length / 8, L.insn_cnt);
    a.writeBigUInt64LE(ptr(spec.insns), L.insns);
    a.writeBigUInt64LE(ptr(license), L.license);
    if (log) {
      a.writeUInt32LE(1, L.log_level);
      a.writeUInt32LE(log.length, L.log_size);
      a.writeBigUInt64LE(ptr(log), L.log_buf);
    }
    writeName(a, L.prog_name, spec.name);
    a.writeUInt32LE(spec.expectedAttachType ?? 0, L.expected_attach_type);
    const r = Number(_syscall(K.SYS_bpf, K.BPF_PROG_LOAD, a, a.length));
    return r < 0 ? -koffi.errno() : r;
  };
  const fd = attempt(null);
  if (fd >= 0) return fd;
  const log = Buffer.alloc(spec.logSize ?? 65536);
  const fd2 = attempt(log);
  if (fd2 >= 0) return fd2; // a transient failure
  const end = log.indexOf(0);
  throw new BpfLoadError(spec.name, -fd2, log.toString('utf8', 0, end < 0 ? log.length : end));
}

/** BPF_LINK_CREATE: attach `progFd` to target (an ifindex for BPF_XDP); the link lives as long as its fd. */
export function linkCreate(progFd: number, target: number, attachType: number, flags: number, subject = ''): number {
  const a = newAttr();
  const L = K.bpf_attr_link_create;
  a.writeUInt32LE(progFd, L.prog_fd);
  a.writeUInt32LE(target, L.target_ifindex);
  a.writeUInt32LE(attachType, L.attach_type);
  a.writeUInt32LE(flags, L.flags);
  return bpf(K.BPF_LINK_CREATE, a, subject);
}

/** BPF_LINK_DETACH: detach a link while keeping its fd (closing the fd detaches too). */
export function linkDetach(linkFd: number, subject = ''): void {
  const a = newAttr();
  a.writeUInt32LE(linkFd, 0);
  bpf(K.BPF_LINK_DETACH, a, subject);
}

function objInfo(fd: number, size: number, subject: string): Buffer {
  const info = Buffer.alloc(size);
  const a = newAttr();
  const L = K.bpf_attr_info;
  a.writeUInt32LE(fd, L.bpf_fd);
  a.writeUInt32LE(size, L.info_len);
  a.writeBigUInt64LE(ptr(info), L.info);
  bpf(K.BPF_OBJ_GET_INFO_BY_FD, a, subject);
  return info;
}

export interface ProgInfo { type: number; id: number; tag: string; name: string }

/** The kernel's id, type, tag and name of a loaded program (what `ip link` and bpftool show). */
export function progInfo(progFd: number): ProgInfo {
  const b = objInfo(progFd, 80, 'prog');
  const L = K.bpf_prog_info;
  const name = b.subarray(L.name, L.name + K.BPF_OBJ_NAME_LEN);
  const end = name.indexOf(0);
  return {
    type: b.readUInt32LE(L.type), id: b.readUInt32LE(L.id), tag: b.subarray(L.tag, L.tag + 8).toString('hex'),
    name: name.toString('utf8', 0, end < 0 ? name.length : end),
  };
}

export interface MapInfo { type: number; id: number; keySize: number; valueSize: number; maxEntries: number }

export function mapInfo(mapFd: number): MapInfo {
  const b = objInfo(mapFd, 24, 'map');
  const L = K.bpf_map_info;
  return {
    type: b.readUInt32LE(L.type), id: b.readUInt32LE(L.id), keySize: b.readUInt32LE(L.key_size),
    valueSize: b.readUInt32LE(L.value_size), maxEntries: b.readUInt32LE(L.max_entries),
  };
}

/** BPF_PROG_TEST_RUN: run a program on `data` without traffic; returns its return value and the output packet. */
export function testRun(progFd: number, data: Uint8Array, repeat = 1): { retval: number; durationNs: number; data: Buffer } {
  const out = Buffer.alloc(data.length + 256);
  const a = newAttr();
  const L = K.bpf_attr_test;
  a.writeUInt32LE(progFd, L.prog_fd);
  a.writeUInt32LE(data.length, L.data_size_in);
  a.writeUInt32LE(out.length, L.data_size_out);
  a.writeBigUInt64LE(ptr(data), L.data_in);
  a.writeBigUInt64LE(ptr(out), L.data_out);
  a.writeUInt32LE(repeat, L.repeat);
  bpf(K.BPF_PROG_TEST_RUN, a, 'prog');
  return { retval: a.readUInt32LE(L.retval), durationNs: a.readUInt32LE(L.duration), data: out.subarray(0, a.readUInt32LE(L.data_size_out)) };
}

export interface LiveRunSpec {
  /** ingress_ifindex of the context: the interface the frames seem to arrive on (XDP_TX sends them out of it). */
  ifindex: number;
  /** how many times the program runs (one frame each); the kernel stops early on a pending signal (EINTR) */
  repeat: number;
  /** frames per batch between flushes; 0 = the kernel's default (NAPI_POLL_WEIGHT, 64), at most 256 */
  batchSize?: number;
  /** rx_queue_index of the context */
  rxQueue?: number;
}

/**
 * BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: the XDP program runs `repeat` times on fresh
 * copies of `frame`, and what it returns is carried out for real: XDP_TX and XDP_REDIRECT frames leave
 * through the driver (XDP_TX through the `ifindex` interface), XDP_PASS frames enter the stack. This is
 * packet generation at the cost of one XDP run per frame, with no socket and no copy from user space.
 * The kernel wants a context (struct xdp_md) whose data_end is the frame length, and no output
 * buffers. Returns the kernel's mean time per run in ns (its `duration`).
 */
export function testRunLive(progFd: number, frame: Uint8Array, spec: LiveRunSpec): { durationNs: number } {
  const ctx = Buffer.alloc(K.xdp_md.size);
  ctx.writeUInt32LE(0, K.xdp_md.data);
  ctx.writeUInt32LE(frame.length, K.xdp_md.data_end);
  ctx.writeUInt32LE(spec.ifindex, K.xdp_md.ingress_ifindex);
  ctx.writeUInt32LE(spec.rxQueue ?? 0, K.xdp_md.rx_queue_index);
  const a = newAttr();
  const L = K.bpf_attr_test;
  a.writeUInt32LE(progFd, L.prog_fd);
  a.writeUInt32LE(frame.length, L.data_size_in);
  a.writeBigUInt64LE(ptr(frame), L.data_in);
  a.writeUInt32LE(spec.repeat, L.repeat);
  a.writeUInt32LE(ctx.length, L.ctx_size_in);
  a.writeBigUInt64LE(ptr(ctx), L.ctx_in);
  a.writeUInt32LE(K.BPF_F_TEST_XDP_LIVE_FRAMES, L.flags);
  a.writeUInt32LE(spec.batchSize ?? 0, L.batch_size);
  bpf(K.BPF_PROG_TEST_RUN, a, `live frames, ifindex ${spec.ifindex}`);
  return { durationNs: a.readUInt32LE(L.duration) };
}

// ---- finding objects another process made (by id) ----

function byId(cmd: number, id: number, what: string): number {
  const a = newAttr();
  a.writeUInt32LE(id, K.bpf_attr_get_id.start_id);
  return bpf(cmd, a, `${what} ${id}`);
}

/** The id of the next BPF link after `start` (0 when there is none). */
export function nextLinkId(start: number): number {
  const a = newAttr();
  a.writeUInt32LE(start, K.bpf_attr_get_id.start_id);
  try {
    bpf(K.BPF_LINK_GET_NEXT_ID, a, 'links');
  } catch (e) {
    if (e instanceof NetError && e.errno === K.ENOENT) return 0;
    throw e;
  }
  return a.readUInt32LE(K.bpf_attr_get_id.next_id);
}

/** A new descriptor of link `id` (holding it keeps the link, and its program, attached). */
export function linkFdById(id: number): number {
  return byId(K.BPF_LINK_GET_FD_BY_ID, id, 'link');
}

export function progFdById(id: number): number {
  return byId(K.BPF_PROG_GET_FD_BY_ID, id, 'prog');
}

export function mapFdById(id: number): number {
  return byId(K.BPF_MAP_GET_FD_BY_ID, id, 'map');
}

export interface LinkInfo { type: number; id: number; progId: number; ifindex: number }

/** A link's type, id, program and (for an XDP link) interface. */
export function linkInfo(linkFd: number): LinkInfo {
  const b = objInfo(linkFd, 32, 'link');
  const L = K.bpf_link_info;
  const type = b.readUInt32LE(L.type);
  return { type, id: b.readUInt32LE(L.id), progId: b.readUInt32LE(L.prog_id), ifindex: type === K.BPF_LINK_TYPE_XDP ? b.readUInt32LE(L.xdp_ifindex) : 0 };
}

/** The ids of the maps a program uses. */
export function progMapIds(progFd: number): number[] {
  const ids = new Uint32Array(8);
  const info = Buffer.alloc(80);
  const L = K.bpf_prog_info;
  info.writeUInt32LE(ids.length, L.nr_map_ids);
  info.writeBigUInt64LE(ptr(ids), L.map_ids);
  const a = newAttr();
  a.writeUInt32LE(progFd, K.bpf_attr_info.bpf_fd);
  a.writeUInt32LE(info.length, K.bpf_attr_info.info_len);
  a.writeBigUInt64LE(ptr(info), K.bpf_attr_info.info);
  bpf(K.BPF_OBJ_GET_INFO_BY_FD, a, 'prog maps');
  return Array.from(ids.subarray(0, Math.min(ids.length, info.readUInt32LE(L.nr_map_ids))));
}
