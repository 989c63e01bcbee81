// The worker side of the daemon's attach/detach/polling requests to a VM port's thread
// (vhost-user or stream), written once for both: the daemon writes the switch name at NAME_OFS
// (or the CPU in C.pollCpu), the operation (OP) and bumps the request sequence word; the thread answers each new
// sequence number exactly once with a 'done' message. What attaching means (open the switch
// port, rebuild the waker, reset a half-read frame) stays in each worker's hooks.
import { C, NAME_OFS, OP, type VhostWorkerMessage } from './shared.js';

/** An error as the daemon reports it: an errno-like code (EIO when there is none) and the text. */
export function errorOf(e: unknown): { code: string; message: string } {
  const code = (e as { code?: unknown })?.code;
  return { code: typeof code === 'string' && /^E[A-Z0-9]+$/.test(code) ? code : 'EIO', message: e instanceof Error ? e.message : String(e) };
}

export interface AttachHooks {
  /** The switch the port is attached to, '' when none. */
  attachedTo(): string;
  /** Attach to switch `sw`; returns the port's index on it (throws with an errno code). */
  attach(sw: string): number;
  /** Detach (only called when attached). */
  detach(): void;
  /** Busy polling on (pinned to `cpu` unless -1) or off; absent: the thread cannot busy-poll. */
  polling?(on: boolean, cpu: number): void;
}

export class AttachRequests {
  // 0, not the word's value now: the daemon may send a request as soon as 'ready' is posted,
  // before the worker builds this (a request missed that way was never answered)
  private seen = 0;
  private readonly ctrl: Int32Array;
  private readonly ctrlBytes: Uint8Array;

  constructor(ctrl: SharedArrayBuffer, private readonly portName: string, private readonly hooks: AttachHooks,
    private readonly post: (m: VhostWorkerMessage) => void) {
    this.ctrl = new Int32Array(ctrl);
    this.ctrlBytes = new Uint8Array(ctrl);
  }

  /** Answer the daemon's request if a new one is there (cheap when none is: one atomic load). */
  poll(): void {
    const seq = Atomics.load(this.ctrl, C.reqSeq);
    if (seq === this.seen) return;
    this.seen = seq;
    const op = Atomics.load(this.ctrl, C.reqOp);
    const h = this.hooks;
    try {
      if (op === OP.attach) {
        const len = Atomics.load(this.ctrl, C.nameLen);
        const name = Buffer.from(this.ctrlBytes.subarray(NAME_OFS, NAME_OFS + len)).toString();
        if (h.attachedTo() !== '') throw Object.assign(new Error(`${this.portName} is already attached to ${h.attachedTo()}`), { code: 'EBUSY' });
        const index = h.attach(name);
        this.post({ type: 'done', seq, ok: true, code: '', message: '', index, sw: name });
      } else if (op === OP.pollOn || op === OP.pollOff) {
        if (!h.polling) throw Object.assign(new Error(`${this.portName}: busy polling is for vhost-user ports (a -netdev stream port's thread waits on its socket)`), { code: 'ENOTSUP' });
        h.polling(op === OP.pollOn, Atomics.load(this.ctrl, C.pollCpu));
        this.post({ type: 'done', seq, ok: true, code: '', message: '', index: -1, sw: h.attachedTo() });
      } else {
        const was = h.attachedTo();
        if (was === '') throw Object.assign(new Error(`${this.portName} is not attached`), { code: 'ENXIO' });
        h.detach();
        this.post({ type: 'done', seq, ok: true, code: '', message: '', index: -1, sw: was });
      }
    } catch (e) {
      this.post({ type: 'done', seq, ok: false, ...errorOf(e), index: -1, sw: '' });
    }
  }
}
