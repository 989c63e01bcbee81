// The daemon side of netmap:NAME opened directly (ports/vhost-user/claim.ts, direct-port.ts):
// a vhost-user port's thread lets go of its socket when an opener asks (WANT: the front end is
// disconnected, the socket removed, LENT), and serves it again when the opener puts FREE back or
// is found gone (its flock released: killed, crashed). Attaching takes the claim (FREE ->
// ATTACHED) so an opener is refused, and is refused itself while an opener has the port.
// poll() is one atomic load per round while nothing changes; an opener's liveness is looked at
// every 100 ms while it has the port.
import { NetmapError } from '../../core/region.js';
import { Claim, CLAIM } from '../../ports/vhost-user/claim.js';
import type { VhostUserDevice } from '../../ports/vhost-user/device.js';

export class DirectHandoff {
  private readonly claim: Claim | null;
  private lent = false;
  private nextCheck = 0;

  /** `name` null: the claim file is another daemon's, nothing to hand over. */
  constructor(name: string | null, private readonly dev: VhostUserDevice, private readonly log: (line: string) => void) {
    let c: Claim | null = null;
    try {
      if (name !== null) c = Claim.open(name);
    } catch (e) {
      log(`${dev.path}: netmap:${name} cannot be opened directly: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.claim = c;
  }

  /** An opener has the socket (the device is released: nothing moves here). */
  get isLent(): boolean {
    return this.lent;
  }

  /** One look at the claim: hand the socket over, or take it back. */
  poll(): void {
    const c = this.claim;
    if (!c) return;
    const st = c.state;
    if (!this.lent) {
      if (st !== CLAIM.WANT) return;
      this.dev.release(`handed to netmap:${c.name} (pid ${c.openerPid})`);
      this.lent = true;
      this.nextCheck = performance.now() + 100;
      this.log(`${this.dev.path}: opened directly as netmap:${c.name} by pid ${c.openerPid}: the opener serves the socket`);
      c.set(CLAIM.LENT);
      return;
    }
    if (st === CLAIM.FREE) {
      this.takeBack('closed by its opener');
      return;
    }
    const now = performance.now();
    if (now < this.nextCheck) return;
    this.nextCheck = now + 100;
    if (!c.tryLock()) return; // the opener still holds it
    try {
      this.takeBack(`its opener (pid ${c.openerPid}) is gone`);
      c.setOpener(0);
      c.set(CLAIM.FREE);
    } finally {
      c.unlock();
    }
  }

  private takeBack(why: string): void {
    try {
      this.dev.relisten();
    } catch (e) {
      this.log(`${this.dev.path}: cannot listen again (retrying): ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    this.lent = false;
    this.log(`${this.dev.path}: netmap:${this.claim!.name}: ${why}: the daemon serves the socket again`);
  }

  /** Before attaching to switch `sw`: refused while an opener has the port. */
  attach(sw: string): void {
    const c = this.claim;
    if (!c) return;
    if (!c.cas(CLAIM.FREE, CLAIM.ATTACHED)) {
      const pid = c.openerPid;
      throw new NetmapError('EBUSY', `${c.name} is open directly (netmap:${c.name}${pid > 0 ? `, pid ${pid}` : ''}): close it before attaching`);
    }
    c.setSwitch(sw);
  }

  /** Attaching failed, or the port was detached. */
  detached(): void {
    if (this.claim && this.claim.state === CLAIM.ATTACHED) { this.claim.setSwitch(''); this.claim.set(CLAIM.FREE); }
  }

  close(): void {
    this.claim?.close();
  }
}
