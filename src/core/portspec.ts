// The netmap port-name grammar (libnetmap's nmport_parse), as a pure parser:
//
//   portspec := prefix vpname [selector] ( '/' flags | '@' N )* ( '@' option )*
//   prefix   := 'netmap:' | 'vale' [A-Za-z0-9_]* ':'
//   vpname   := name [ ( '{' | '}' ) pipe-id ]
//   selector := '^' | '^' N | '*' | '-' N
//   option   := 'conf:' k=v,... | 'share=' port | 'extmem=' file | 'extmem:' k=v,...
//             | 'offset=' N | 'offset:' k=v,...
//
// Nothing here looks at the system: whether a port exists or can be opened is decided by
// the code that opens it. Errors carry the position of the offending character.
import {
  MAX_RINGS,
  MAX_SLOTS,
  NM_BDG_MAXRINGS,
  NM_MAX_RINGID,
  NR_EXCLUSIVE,
  NR_MONITOR_RX,
  NR_MONITOR_TX,
  NR_RX_RINGS_ONLY,
  NR_TX_RINGS_ONLY,
  NR_ZCOPY_MON,
} from './constants.js';

export type PortKind = 'vale' | 'netmap' | 'null';
export type RegMode = 'all-nic' | 'one-nic' | 'sw' | 'one-sw' | 'nic-sw';

export interface PortConf {
  txRings?: number;
  rxRings?: number;
  hostTxRings?: number;
  hostRxRings?: number;
  txSlots?: number;
  rxSlots?: number;
  /** `vnet=N`: the port's virtio-net header length, 0, 10 or 12 (netmap's PORT_HDR_SET). */
  vnetHdrLen?: 0 | 10 | 12;
}

export interface PortSpec {
  /** The string given to the parser. */
  raw: string;
  kind: PortKind;
  /** 'vale0' for 'vale0:1' ('vale' when the switch id is empty); '' for netmap and null. */
  switchName: string;
  /** The port part without the pipe suffix: 'eth0', '1', 'x'. */
  name: string;
  /** 'x{id' is the master end of pipe id, 'x}id' the slave end. */
  pipe: null | { end: 'master' | 'slave'; id: string };
  mode: RegMode;
  /** N of '-N' or '^N', else 0. */
  ringId: number;
  /** NR_EXCLUSIVE, NR_MONITOR_RX/TX, NR_ZCOPY_MON, NR_RX/TX_RINGS_ONLY. */
  flags: number;
  /** '@N', 0 when absent. */
  memId: number;
  conf: PortConf;
  /** '@share=PORT', stored in canonical form ('netmap:eth0'). */
  share: string | null;
  extmem: null | {
    file: string;
    ifNum?: number;
    ifSize?: number;
    ringNum?: number;
    ringSize?: number;
    bufNum?: number;
    bufSize?: number;
  };
  offset: null | { initial: number; bits?: number };
}

export class PortSpecError extends Error {
  readonly spec: string;
  readonly position: number;
  readonly reason: string;
  constructor(spec: string, position: number, reason: string) {
    // Control characters would break the caret line, so they are shown as '?'.
    const shown = spec.replace(/\p{Cc}/gu, '?');
    const column = Array.from(spec.slice(0, position)).length;
    super(
      `invalid port name ${JSON.stringify(spec)}: ${reason} at position ${position}\n` +
        `  ${shown}\n  ${' '.repeat(column)}^`,
    );
    this.name = 'PortSpecError';
    this.spec = spec;
    this.position = position;
    this.reason = reason;
  }
}

/** nmreq_header.nr_name is 64 bytes including the terminating NUL. */
const NAME_MAX_BYTES = 63;
/** nmreq_register.nr_mem_id is a uint16. */
const MEM_ID_MAX = 0xffff;
const U32_MAX = 0xffffffff;

const FLAG_LETTERS: ReadonlyArray<readonly [string, number]> = [
  ['x', NR_EXCLUSIVE],
  ['r', NR_MONITOR_RX],
  ['t', NR_MONITOR_TX],
  ['z', NR_ZCOPY_MON],
  ['R', NR_RX_RINGS_ONLY],
  ['T', NR_TX_RINGS_ONLY],
];
const FLAG_BY_LETTER = new Map(FLAG_LETTERS);

/** Characters that end the port part (libnetmap's separator set). */
const SEPARATORS = '-*^/@';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isIdentChar = (c: string): boolean => /^[A-Za-z0-9_]$/.test(c);
const quote = (c: string): string => (/\p{Cc}/u.test(c) ? JSON.stringify(c) : `'${c}'`);
const encoder = new TextEncoder();

// Option keys, in their '_' spelling ('-' is accepted and mapped to '_').
interface OptionDef {
  keys: readonly string[];
  defaultKey: string | null;
  mandatory: string | null;
}
const OPTIONS: ReadonlyMap<string, OptionDef> = new Map<string, OptionDef>(Object.entries({
  conf: {
    keys: ['rings', 'tx_rings', 'rx_rings', 'host_rings', 'host_tx_rings', 'host_rx_rings', 'slots', 'tx_slots', 'rx_slots', 'vnet'],
    // libnetmap's comment calls 'rings' the default key, but its code declares none.
    defaultKey: null,
    mandatory: null,
  },
  share: { keys: ['port'], defaultKey: 'port', mandatory: 'port' },
  extmem: {
    keys: ['file', 'if_num', 'if_size', 'ring_num', 'ring_size', 'buf_num', 'buf_size'],
    defaultKey: 'file',
    mandatory: 'file',
  },
  offset: { keys: ['initial', 'bits'], defaultKey: 'initial', mandatory: 'initial' },
}));

interface KeyValue {
  key: string; // as written
  value: string;
  pos: number; // position of the value in the spec
}

/** One parse of one spec; `fail` throws with the spec and a position. */
class Parser {
  constructor(
    readonly raw: string,
    readonly opts: { defaultPrefix?: boolean },
  ) {}

  fail(position: number, reason: string): never {
    throw new PortSpecError(this.raw, position, reason);
  }

  parse(): PortSpec {
    const raw = this.raw;
    if (raw === '') this.fail(0, 'empty port name');
    if (this.opts.defaultPrefix && raw === 'null') return { ...blankSpec(raw), kind: 'null', name: 'null' };

    const spec = blankSpec(raw);
    const start = this.parsePrefix(spec);
    let i = this.parsePort(spec, start);
    i = this.parseModifiers(spec, i);
    if (i < raw.length) this.parseOptions(spec, i);
    return spec;
  }

  /** Sets kind and switchName; returns where the port part starts. */
  private parsePrefix(spec: PortSpec): number {
    const raw = this.raw;
    if (raw.startsWith('netmap:')) {
      spec.kind = 'netmap';
      return 'netmap:'.length;
    }
    // A ':' before any option means the user wrote a prefix, known or not.
    const colon = raw.indexOf(':');
    const at = raw.indexOf('@');
    if (colon >= 0 && (at < 0 || colon < at)) {
      const prefix = raw.slice(0, colon);
      if (!prefix.startsWith('vale')) {
        this.fail(0, `unknown prefix '${prefix}:' (expected 'netmap:' or 'valeX:')`);
      }
      for (let k = 4; k < colon; k++) {
        const c = raw[k]!;
        if (!isIdentChar(c)) this.fail(k, `invalid character ${quote(c)} in VALE switch name (allowed: letters, digits, '_')`);
      }
      spec.kind = 'vale';
      spec.switchName = prefix;
      return colon + 1;
    }
    if (!this.opts.defaultPrefix) this.fail(0, "missing prefix (expected 'netmap:' or 'valeX:')");
    // Tools such as pkt-gen take a bare interface name as 'netmap:NAME'.
    spec.kind = 'netmap';
    return 0;
  }

  /** Parses name and pipe suffix from `start`; returns where the modifiers start. */
  private parsePort(spec: PortSpec, start: number): number {
    const raw = this.raw;
    let end = start;
    while (end < raw.length && !SEPARATORS.includes(raw[end]!)) end++;

    let pipeSep = start;
    while (pipeSep < end && raw[pipeSep] !== '{' && raw[pipeSep] !== '}') pipeSep++;

    if (pipeSep === start) {
      this.fail(start, pipeSep === end ? 'empty port name' : `empty port name before ${quote(raw[pipeSep]!)}`);
    }
    for (let k = start; k < pipeSep; k++) {
      const c = raw[k]!;
      if (c === ':') this.fail(k, "':' is not allowed in a port name");
      if (/[\p{Cc}\s]/u.test(c)) this.fail(k, `character ${quote(c)} is not allowed in a port name`);
    }
    spec.name = raw.slice(start, pipeSep);

    if (pipeSep < end) {
      if (pipeSep + 1 === end) this.fail(end, `empty pipe id after ${quote(raw[pipeSep]!)}`);
      for (let k = pipeSep + 1; k < end; k++) {
        const c = raw[k]!;
        if (!isIdentChar(c)) this.fail(k, `invalid character ${quote(c)} in pipe id (allowed: letters, digits, '_')`);
      }
      spec.pipe = { end: raw[pipeSep] === '{' ? 'master' : 'slave', id: raw.slice(pipeSep + 1, end) };
    }

    // The kernel name is 'NAME{PIPE' for netmap ports, 'valeX:NAME{PIPE' for VALE ports.
    const kernelStart = spec.kind === 'vale' ? 0 : start;
    const kernelName = raw.slice(kernelStart, end);
    let bytes = 0;
    let k = kernelStart;
    for (const ch of kernelName) { // by code point, so a surrogate pair counts as 4 bytes
      bytes += encoder.encode(ch).length;
      if (bytes > NAME_MAX_BYTES) {
        const total = encoder.encode(kernelName).length;
        this.fail(k, `port name '${kernelName}' is too long (${total} bytes, at most ${NAME_MAX_BYTES})`);
      }
      k += ch.length;
    }
    return end;
  }

  /** Reads a decimal number at `i` (the caller checked there is a digit). */
  private number(i: number): { value: number; text: string; end: number } {
    let end = i;
    while (isDigit(this.raw[end])) end++;
    const text = this.raw.slice(i, end);
    return { value: Number(text), text, end };
  }

  /** Ring selector, flags and '@N'; returns where the options start (or the end). */
  private parseModifiers(spec: PortSpec, portEnd: number): number {
    const raw = this.raw;
    let selector: { text: string; pos: number } | null = null;
    let memIdPos = -1;
    let i = portEnd;
    while (i < raw.length) {
      const c = raw[i]!;
      if (c === '^' || c === '*' || c === '-') {
        if (selector) this.fail(i, conflictReason(selector.text, c));
        if (i !== portEnd) this.fail(i, `ring selector '${c}' must come right after the port name`);
        const next = this.parseSelector(spec, i);
        selector = { text: raw.slice(i, next), pos: i };
        i = next;
      } else if (c === '/') {
        const first = ++i;
        while (i < raw.length && raw[i] !== '@' && raw[i] !== '/' && !'^*-'.includes(raw[i]!)) {
          const bit = FLAG_BY_LETTER.get(raw[i]!);
          if (bit === undefined) this.fail(i, `unknown flag ${quote(raw[i]!)}`);
          spec.flags |= bit;
          i++;
        }
        if (i === first) this.fail(first - 1, "'/' must be followed by at least one flag (x r t z R T)");
      } else if (c === '@') {
        if (!isDigit(raw[i + 1])) {
          if (i + 1 === raw.length) this.fail(i, "empty memory id or option after '@'");
          return i; // '@' not followed by a digit starts the options
        }
        const n = this.number(i + 1);
        if (n.value === 0 || n.value > MEM_ID_MAX) this.fail(i + 1, `memory id ${n.text} out of range [1, ${MEM_ID_MAX}]`);
        if (spec.memId !== 0 && spec.memId !== n.value) {
          this.fail(i + 1, `memory id set twice (@${spec.memId} at position ${memIdPos}, then @${n.value})`);
        }
        spec.memId = n.value;
        memIdPos = i;
        i = n.end;
      } else if (c === '{' || c === '}') {
        this.fail(i, `pipe suffix ${quote(c)} must directly follow the port name`);
      } else {
        this.fail(i, `unexpected character ${quote(c)} after '${raw.slice(portEnd, i)}'`);
      }
    }
    if (spec.pipe && selector && selector.text[0] !== '-') {
      this.fail(selector.pos, `a pipe endpoint has no host rings, so '${selector.text}' is not allowed`);
    }
    return i;
  }

  /** Parses '^', '^N', '*' or '-N' at `i`; returns the index after it. */
  private parseSelector(spec: PortSpec, i: number): number {
    const c = this.raw[i]!;
    if (c === '*') {
      spec.mode = 'nic-sw';
      return i + 1;
    }
    const hasNumber = isDigit(this.raw[i + 1]);
    if (c === '^' && !hasNumber) {
      spec.mode = 'sw';
      return i + 1;
    }
    if (!hasNumber) {
      const after = this.raw[i + 1];
      const hint = after !== undefined && isIdentChar(after) ? " (netmap reads '-' as a ring suffix, so port names cannot contain it)" : '';
      this.fail(i + 1, `expected a ring number after '-'${hint}`);
    }
    const n = this.number(i + 1);
    if (n.value >= NM_MAX_RINGID) this.fail(i + 1, `ring number ${n.text} out of range [0, ${NM_MAX_RINGID})`);
    spec.mode = c === '^' ? 'one-sw' : 'one-nic';
    spec.ringId = n.value;
    return n.end;
  }

  /** Parses '@opt...@opt...' from `i` (at an '@') to the end. */
  private parseOptions(spec: PortSpec, i: number): void {
    const raw = this.raw;
    const seen = new Set<string>();
    while (i < raw.length) {
      const start = i + 1;
      let end = raw.indexOf('@', start);
      if (end < 0) end = raw.length;
      if (end === start) this.fail(i, "empty option after '@'");

      let delim = start;
      while (delim < end && raw[delim] !== ':' && raw[delim] !== '=') delim++;
      const name = raw.slice(start, delim);
      const def = OPTIONS.get(name);
      if (def === undefined) {
        if (/^[0-9]+$/.test(name)) this.fail(start, `memory id '@${name}' must come before the options`);
        this.fail(start, `unknown option '${name}' (known: ${[...OPTIONS.keys()].join(', ')})`);
      }
      if (seen.has(name)) this.fail(start, `option '${name}' given twice`);
      seen.add(name);

      const values = this.optionValues(name, def, delim, end);
      if (def.mandatory && !values.has(def.mandatory)) {
        this.fail(end, `option '${name}' is missing mandatory key '${dashed(def.mandatory)}'`);
      }
      this.applyOption(spec, name, values);
      i = end;
    }
  }

  /** Splits the body of one option (from `delim` to `end`) into normalized key -> value. */
  private optionValues(name: string, def: OptionDef, delim: number, end: number): Map<string, KeyValue> {
    const raw = this.raw;
    const values = new Map<string, KeyValue>();
    if (delim === end) {
      const example = def.defaultKey ? `'@${name}=VALUE' or '@${name}:key=value,...'` : `'@${name}:key=value,...'`;
      this.fail(delim, `option '${name}' needs a value: ${example}`);
    }
    if (raw[delim] === '=') {
      const value = raw.slice(delim + 1, end);
      if (def.defaultKey === null) {
        this.fail(delim, `option '${name}' has no default key; write '@${name}:${dashed(def.keys[0]!)}=${value || 'N'}'`);
      }
      if (value === '') this.fail(delim + 1, `missing value for option '${name}'`);
      values.set(def.defaultKey, { key: def.defaultKey, value, pos: delim + 1 });
      return values;
    }
    if (delim + 1 === end) this.fail(delim + 1, `option '${name}' has no keys after ':'`);
    let pos = delim + 1;
    for (const item of raw.slice(delim + 1, end).split(',')) {
      const eq = item.indexOf('=');
      const key = eq < 0 ? item : item.slice(0, eq);
      if (key === '') this.fail(pos, item === '' ? `empty key in option '${name}'` : `missing key before '=' in option '${name}'`);
      const norm = key.replace(/-/g, '_');
      if (!def.keys.includes(norm)) {
        this.fail(pos, `unknown key '${key}' for option '${name}' (known: ${def.keys.map(dashed).join(', ')})`);
      }
      const prev = values.get(norm);
      if (prev) this.fail(pos, `duplicate key '${key}' in option '${name}' (already set to '${prev.value}')`);
      if (eq < 0) this.fail(pos + item.length, `missing '=value' for key '${key}' in option '${name}'`);
      const value = item.slice(eq + 1);
      if (value === '') this.fail(pos + eq + 1, `empty value for key '${key}' in option '${name}'`);
      values.set(norm, { key, value, pos: pos + eq + 1 });
      pos += item.length + 1;
    }
    return values;
  }

  private applyOption(spec: PortSpec, name: string, values: Map<string, KeyValue>): void {
    // Check every numeric value in the order written, so the first bad one is reported.
    const n = new Map<string, number>();
    for (const [key, kv] of values) {
      const range = numericRange(spec.kind, name, key);
      if (range) n.set(key, this.parseUint(kv, range));
    }
    switch (name) {
      case 'conf': {
        // Specific keys override generic ones, whatever the order written.
        const both = (specific: string, generic: string) => n.get(specific) ?? n.get(generic);
        const vnet = values.get('vnet');
        if (vnet && n.get('vnet') !== 0 && n.get('vnet') !== 10 && n.get('vnet') !== 12) {
          this.fail(vnet.pos, `${vnet.key}=${vnet.value}: a virtio-net header is 0, 10 or 12 bytes`);
        }
        spec.conf = defined({
          txRings: both('tx_rings', 'rings'),
          rxRings: both('rx_rings', 'rings'),
          hostTxRings: both('host_tx_rings', 'host_rings'),
          hostRxRings: both('host_rx_rings', 'host_rings'),
          txSlots: both('tx_slots', 'slots'),
          rxSlots: both('rx_slots', 'slots'),
          vnetHdrLen: n.get('vnet') as 0 | 10 | 12 | undefined,
        });
        break;
      }
      case 'share':
        spec.share = this.parseShare(values.get('port')!);
        break;
      case 'extmem':
        spec.extmem = {
          file: values.get('file')!.value,
          ...defined({
            ifNum: n.get('if_num'),
            ifSize: n.get('if_size'),
            ringNum: n.get('ring_num'),
            ringSize: n.get('ring_size'),
            bufNum: n.get('buf_num'),
            bufSize: n.get('buf_size'),
          }),
        };
        break;
      case 'offset':
        spec.offset = { initial: n.get('initial')!, ...defined({ bits: n.get('bits') }) };
        break;
    }
  }

  private parseUint(kv: KeyValue, [min, max, note]: Range): number {
    if (!/^[0-9]+$/.test(kv.value)) this.fail(kv.pos, `value '${kv.value}' of key '${kv.key}' is not a number`);
    const n = Number(kv.value);
    if (n < min || n > max) this.fail(kv.pos, `${kv.key}=${kv.value} out of range [${min}, ${max}]${note}`);
    return n;
  }

  /** The shared port must itself be a valid port name; it is stored in canonical form. */
  private parseShare(kv: KeyValue): string {
    let other: PortSpec;
    try {
      other = parsePortSpec(kv.value, this.opts);
    } catch (e) {
      if (e instanceof PortSpecError) this.fail(kv.pos + e.position, `in shared port name: ${e.reason}`);
      throw e;
    }
    if (other.kind === 'null') this.fail(kv.pos, 'the null port has no memory to share');
    // Like libnetmap, only the port identity matters here: ring selector and flags are dropped.
    return formatPortSpec({ ...blankSpec(''), kind: other.kind, switchName: other.switchName, name: other.name, pipe: other.pipe });
  }
}

type Range = readonly [min: number, max: number, note: string];

/** Allowed range of a numeric option key, or null for string keys (share port, extmem file). */
function numericRange(kind: PortKind, option: string, key: string): Range | null {
  switch (option) {
    case 'conf':
      if (key.endsWith('slots')) return [1, MAX_SLOTS, ''];
      if (key === 'vnet') return [0, 12, ' (0, 10 or 12)'];
      return kind === 'vale' ? [1, NM_BDG_MAXRINGS, ' for a VALE port'] : [1, MAX_RINGS, ''];
    case 'extmem':
      return key === 'file' ? null : [1, U32_MAX, ''];
    case 'offset':
      return key === 'bits' ? [1, 64, ''] : [0, U32_MAX, ''];
    default:
      return null;
  }
}

function blankSpec(raw: string): PortSpec {
  return {
    raw,
    kind: 'netmap',
    switchName: '',
    name: '',
    pipe: null,
    mode: 'all-nic',
    ringId: 0,
    flags: 0,
    memId: 0,
    conf: {},
    share: null,
    extmem: null,
    offset: null,
  };
}

function conflictReason(prev: string, c: string): string {
  const kinds = new Set([prev[0], c]);
  if (kinds.has('^') && kinds.has('-')) {
    return "'^' (host rings) cannot be combined with '-N' (one NIC ring; '^N' selects one host ring)";
  }
  return prev[0] === c ? `ring selector '${c}' given twice` : `'${c}' cannot be combined with '${prev}'`;
}

const dashed = (key: string): string => key.replace(/_/g, '-');

/** Drops undefined properties, so that specs compare equal with deepStrictEqual. */
function defined<T extends object>(o: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/**
 * Parses a netmap port name. With `defaultPrefix` (what pkt-gen and the other tools do) a
 * name without a prefix is taken as 'netmap:NAME', and "null" is the null port.
 * Throws PortSpecError on any syntax error.
 */
export function parsePortSpec(name: string, opts: { defaultPrefix?: boolean } = {}): PortSpec {
  return new Parser(name, opts).parse();
}

/** Canonical string form: parsePortSpec(formatPortSpec(s)) deep-equals s, except for raw. */
export function formatPortSpec(spec: PortSpec): string {
  if (spec.kind === 'null') return 'null';
  let s = spec.kind === 'vale' ? `${spec.switchName}:` : 'netmap:';
  s += spec.name;
  if (spec.pipe) s += (spec.pipe.end === 'master' ? '{' : '}') + spec.pipe.id;
  switch (spec.mode) {
    case 'sw': s += '^'; break;
    case 'one-sw': s += `^${spec.ringId}`; break;
    case 'nic-sw': s += '*'; break;
    case 'one-nic': s += `-${spec.ringId}`; break;
    case 'all-nic': break;
  }
  const letters = FLAG_LETTERS.filter(([, bit]) => spec.flags & bit).map(([l]) => l).join('');
  if (letters) s += `/${letters}`;
  if (spec.memId) s += `@${spec.memId}`;

  const conf = confKeys(spec.conf);
  if (conf.length) s += `@conf:${conf.join(',')}`;
  if (spec.share !== null) s += `@share=${spec.share}`;
  if (spec.extmem) {
    const { file, ifNum, ifSize, ringNum, ringSize, bufNum, bufSize } = spec.extmem;
    const rest = keyList({ 'if-num': ifNum, 'if-size': ifSize, 'ring-num': ringNum, 'ring-size': ringSize, 'buf-num': bufNum, 'buf-size': bufSize });
    s += rest.length ? `@extmem:${[`file=${file}`, ...rest].join(',')}` : `@extmem=${file}`;
  }
  if (spec.offset) {
    const { initial, bits } = spec.offset;
    s += bits === undefined ? `@offset=${initial}` : `@offset:initial=${initial},bits=${bits}`;
  }
  return s;
}

/** conf as key=value strings, using the generic key when both directions agree. */
function confKeys(c: PortConf): string[] {
  const pair = (generic: string, tx: string, rx: string, a?: number, b?: number): Record<string, number | undefined> =>
    a !== undefined && a === b ? { [generic]: a } : { [tx]: a, [rx]: b };
  return keyList({
    ...pair('rings', 'tx-rings', 'rx-rings', c.txRings, c.rxRings),
    ...pair('host-rings', 'host-tx-rings', 'host-rx-rings', c.hostTxRings, c.hostRxRings),
    ...pair('slots', 'tx-slots', 'rx-slots', c.txSlots, c.rxSlots),
    vnet: c.vnetHdrLen,
  });
}

function keyList(o: Record<string, number | undefined>): string[] {
  return Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
}
