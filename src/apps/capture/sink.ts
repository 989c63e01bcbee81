// Where `nmts capture` writes packets: a pcap or pcapng file (or the standard output)
// through the packet module's fd writers and their fixed buffers, with tcpdump's -C, -G
// and -W rotation. Writing a packet allocates nothing; opening a new file allocates its
// writer (once per file).

import { closeSync, openSync } from 'node:fs';
import { PcapFdWriter } from '../../packet/pcap.js';
import { PcapngFdWriter } from '../../packet/pcapng.js';
import { fileNumberWidth, numberedName, strftime } from './format.js';

export interface SinkOptions {
  /** File name, or '-' for `stdoutFd`. */
  file: string;
  pcapng: boolean;
  nano: boolean;
  snaplen: number;
  rotateSeconds: number;
  rotateBytes: number;
  fileLimit: number;
  /** pcapng if_name. */
  ifName: string;
  stdoutFd: number;
}

const WRITER_BUF = 1 << 16;

export class CaptureSink {
  /** Every file opened, in order (a -W ring reuses names: they appear once per opening). */
  readonly files: string[] = [];
  private readonly o: SinkOptions;
  private fd = -1;
  private pcap: PcapFdWriter | null = null;
  private ng: PcapngFdWriter | null = null;
  /** Bytes of the current file, buffered ones included (what ftell() tells tcpdump). */
  private bytes = 0;
  private headerBytes = 0;
  private cCount = 0; // -C file number
  private gCount = 0; // -G files opened
  private gTime = 0; // ms of the current -G file
  private readonly width: number;

  constructor(o: SinkOptions, nowMs: number) {
    this.o = o;
    this.width = o.rotateBytes > 0 && o.fileLimit > 0 ? fileNumberWidth(o.fileLimit) : 0;
    this.gTime = nowMs;
    this.openFile();
  }

  private name(): string {
    const o = this.o;
    const base = o.rotateSeconds > 0 ? strftime(o.file, new Date(this.gTime)) : o.file;
    return o.rotateBytes > 0 ? numberedName(base, this.cCount, this.width) : base;
  }

  private openFile(): void {
    const o = this.o;
    let fd: number;
    let name: string;
    if (o.file === '-') {
      fd = o.stdoutFd;
      name = '-';
    } else {
      name = this.name();
      fd = openSync(name, 'w', 0o644);
    }
    this.fd = fd;
    this.files.push(name);
    if (o.pcapng) {
      this.ng = new PcapngFdWriter(fd, { interfaces: [{ snapLen: o.snaplen, nanosecond: o.nano, name: o.ifName }] }, WRITER_BUF);
      this.headerBytes = this.ng.writer.headerLength;
    } else {
      this.pcap = new PcapFdWriter(fd, { snapLen: o.snaplen, nanosecond: o.nano }, WRITER_BUF);
      this.headerBytes = 24;
    }
    this.bytes = this.headerBytes;
  }

  private closeFile(): void {
    this.flush();
    if (this.fd >= 0 && this.o.file !== '-') closeSync(this.fd);
    this.fd = -1;
    this.pcap = null;
    this.ng = null;
  }

  /**
   * Once per batch, with the batch's time: starts the next -G file when its time is up.
   * False when -W files have been written with -G: the capture stops (as tcpdump exits).
   */
  tick(nowMs: number): boolean {
    const o = this.o;
    if (o.rotateSeconds <= 0 || nowMs - this.gTime < o.rotateSeconds * 1000) return true;
    this.gCount++;
    this.closeFile();
    if (o.fileLimit > 0 && this.gCount >= o.fileLimit) return false;
    this.gTime = nowMs;
    this.cCount = 0;
    this.openFile();
    return true;
  }

  /** Write one packet (cut to the snap length; origLen, the length on the wire, defaults to len). */
  write(u8: Uint8Array, off: number, len: number, tsSec: number, tsFrac: number, origLen = len): void {
    const o = this.o;
    if (o.rotateBytes > 0 && this.bytes > o.rotateBytes) {
      // tcpdump: "before writing a packet, if the file is larger than -C, start a new one"
      this.closeFile();
      this.cCount++;
      if (o.fileLimit > 0 && this.cCount >= o.fileLimit) this.cCount = 0;
      this.openFile();
    }
    if (this.pcap !== null) {
      this.bytes += this.pcap.writer.recordLength(len);
      this.pcap.write(u8, off, len, tsSec, tsFrac, origLen);
    } else {
      this.bytes += this.ng!.writer.recordLength(len, 0);
      this.ng!.write(0, u8, off, len, tsSec, tsFrac, origLen);
    }
  }

  /** Bytes in the current file so far (header included). */
  get fileBytes(): number { return this.bytes; }

  flush(): void {
    if (this.pcap !== null) this.pcap.flush();
    else if (this.ng !== null) this.ng.flush();
  }

  close(): void {
    if (this.fd >= 0) this.closeFile();
  }
}
