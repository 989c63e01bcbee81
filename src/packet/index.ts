// Packet helpers: header layouts, checksums, pkt-gen's frame template, pcap, hexdump.
export * from './checksum.js';
export * from './addr.js';
export * from './headers.js';
export * from './frame-builder.js';
export * from './pcap.js';
export * from './hexdump.js';
export * from './pcapng.js';
export * from './pcap-stream.js';
export * from './filter.js';
