// A fixed output buffer in front of a file descriptor: the capture-file writers format
// records straight into `buf` and the bytes reach the file in writeSync calls of up to the
// buffer's size (no allocation per record).
import { writeSync } from 'node:fs';

export class FdBuffer {
  readonly buf: Uint8Array;
  /** Bytes formatted and not yet written. */
  used = 0;
  private readonly fd: number;

  constructor(fd: number, size: number) {
    this.fd = fd;
    this.buf = new Uint8Array(size);
  }

  /** Make room for `bytes` more (writing out what is buffered if needed); returns the offset to format at. */
  reserve(bytes: number): number {
    if (this.used + bytes > this.buf.length) this.flush();
    return this.used;
  }

  /** Write out everything buffered so far. Does not close the fd. */
  flush(): void {
    let done = 0;
    while (done < this.used) done += writeSync(this.fd, this.buf, done, this.used - done);
    this.used = 0;
  }
}
