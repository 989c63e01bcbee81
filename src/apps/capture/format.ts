// tcpdump's file naming for -G (strftime) and -C/-W (numbered files), and the one-line
// helpers kept for library users (describePacket, formatTime); the text output itself is
// print.ts over src/packet/decode.

import { FrameDecoder } from '../../packet/decode/index.js';

const pad = (n: number, w: number): string => String(n).padStart(w, '0');

/** HH:MM:SS.ffffff (or .fffffffff with nano) in local time, as tcpdump prints. */
export function formatTime(tsSec: number, tsFrac: number, nano: boolean): string {
  const d = new Date(tsSec * 1000);
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(tsFrac, nano ? 9 : 6)}`;
}

/**
 * One line without the timestamp for the frame u[off, off+capLen) of origLen bytes on the
 * wire, as tcpdump -n prints it (src/packet/decode; a fresh decoder: sequence numbers are
 * absolute, as for the first packet of a conversation).
 */
export function describePacket(u: Uint8Array, off: number, capLen: number, origLen: number, quick = false, linkHeader = false): string {
  return new FrameDecoder({ verbose: 0, quick, linkHeader, absoluteSeq: false }).ethernet(u, off, capLen, origLen);
}

/**
 * The strftime conversions tcpdump's -G names use, in local time: %Y %y %m %d %H %M %S %j
 * %s (epoch seconds) %e %b %a %% ; anything else is kept as written.
 */
export function strftime(fmt: string, d: Date): string {
  const mon = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const day = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return fmt.replace(/%(.)/g, (all, c: string) => {
    switch (c) {
      case 'Y': return String(d.getFullYear());
      case 'y': return pad(d.getFullYear() % 100, 2);
      case 'm': return pad(d.getMonth() + 1, 2);
      case 'd': return pad(d.getDate(), 2);
      case 'e': return String(d.getDate()).padStart(2, ' ');
      case 'H': return pad(d.getHours(), 2);
      case 'M': return pad(d.getMinutes(), 2);
      case 'S': return pad(d.getSeconds(), 2);
      case 'j': {
        const start = new Date(d.getFullYear(), 0, 1);
        return pad(Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() - start.getTime()) / 86_400_000) + 1, 3);
      }
      case 's': return String(Math.floor(d.getTime() / 1000));
      case 'b': return mon[d.getMonth()]!;
      case 'a': return day[d.getDay()]!;
      case '%': return '%';
      default: return all;
    }
  });
}

/** Digits tcpdump pads -C file numbers to with -W n (the digits of n - 1). */
export function fileNumberWidth(n: number): number {
  let c = 0;
  for (let x = n - 1; x > 0; x = Math.floor(x / 10)) c++;
  return c;
}

/** tcpdump's MakeFilename: name, name1, name2 ... or name0, name1 ... padded to `width`. */
export function numberedName(name: string, n: number, width: number): string {
  if (n === 0 && width === 0) return name;
  return width === 0 ? `${name}${n}` : `${name}${String(n).padStart(width, '0')}`;
}
