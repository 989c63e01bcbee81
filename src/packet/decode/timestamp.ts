// tcpdump's timestamp column for text lines: default HH:MM:SS.frac (local time), -t none,
// -tt seconds since the epoch, -ttt the time since the previous packet, -tttt the date and
// time, -ttttt the time since the first packet; 6 digits of fraction, 9 with --nano.

export class TimestampFormat {
  private firstSec = -1;
  private firstNs = 0;
  private prevSec = -1;
  private prevNs = 0;
  /** mode: the number of -t flags (0 = default); nano: 9 fraction digits. */
  constructor(readonly mode: number, readonly nano: boolean) {}

  private frac(ns: number): string {
    return this.nano ? String(ns).padStart(9, '0') : String(Math.floor(ns / 1000)).padStart(6, '0');
  }

  private hms(sec: number, ns: number): string {
    const p = (n: number): string => String(n).padStart(2, '0');
    return `${p(Math.floor(sec / 3600))}:${p(Math.floor(sec / 60) % 60)}:${p(sec % 60)}.${this.frac(ns)}`;
  }

  private delta(sec: number, ns: number, fromSec: number, fromNs: number): string {
    let ds = sec - fromSec, dn = ns - fromNs;
    if (!this.nano) dn = Math.floor(ns / 1000) * 1000 - Math.floor(fromNs / 1000) * 1000;
    if (dn < 0) { dn += 1e9; ds--; }
    const neg = ds < 0;
    if (neg) { // magnitude of a negative delta
      let t = -(ds * 1e9 + dn);
      ds = Math.floor(t / 1e9); t -= ds * 1e9; dn = t;
    }
    return `${neg ? '-' : ' '}${this.hms(ds, dn)}`;
  }

  /** The column with its trailing space ('' for -t) for a packet stamped sec + ns/1e9. */
  format(sec: number, ns: number): string {
    switch (this.mode) {
      case 0: {
        const d = new Date(sec * 1000);
        const p = (n: number): string => String(n).padStart(2, '0');
        return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${this.frac(ns)} `;
      }
      case 1: return '';
      case 2: return `${sec}.${this.frac(ns)} `;
      case 3: {
        const s = this.prevSec < 0 ? this.delta(0, 0, 0, 0) : this.delta(sec, ns, this.prevSec, this.prevNs);
        this.prevSec = sec; this.prevNs = ns;
        return `${s} `;
      }
      case 4: {
        const d = new Date(sec * 1000);
        const p = (n: number): string => String(n).padStart(2, '0');
        return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${this.frac(ns)} `;
      }
      default: {
        if (this.firstSec < 0) { this.firstSec = sec; this.firstNs = ns; }
        return `${this.delta(sec, ns, this.firstSec, this.firstNs)} `;
      }
    }
  }
}
