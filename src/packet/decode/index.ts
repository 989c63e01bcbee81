// The text decoders of `nmts capture` (tcpdump's line format): see link.ts for the entry.
export { FrameDecoder, linkHeaderLength } from './link.js';
export { hexLines, asciiLines } from './dump.js';
export { TimestampFormat } from './timestamp.js';
export { DEFAULT_DECODE, type DecodeOptions } from './options.js';
export { tcpFlagText, TCP_CONVERSATIONS } from './tcp.js';
