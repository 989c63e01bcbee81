// The help text of `nmts pkt-gen`. Keep it in step with options.ts.

/** Full help text, ending with a newline. */
export function pktGenUsage(): string {
  return `Usage: nmts pkt-gen -i PORT [-f FUNCTION] [options]

Generate, receive or echo UDP traffic on a netmap-ts port, and report rates
once per interval (pkt-gen from netmap, rebuilt).

Port and function
  -i port        port to use (required): vale0:1, a pipe such as pipe0{1, a
                 monitor, or any other port name netmap-ts accepts
  -f function    tx     send frames as fast as possible (or at -R)
                 rx     count received frames (default)
                 ping   send timestamped frames, measure round-trip times
                 pong   answer ping frames (MACs, IPv4 or IPv6 addresses and
                        ports swapped, behind VLAN tags too)
                 txseq  send frames carrying a 32-bit sequence number
                 rxseq  receive txseq frames, report gaps and reordering
  -n count       packets (tx, rx) or transactions (ping, pong); 0 = forever
                 (default 0); split among the threads
  -h, --help     print this text and exit

Frames
  -l len         frame length without CRC, 16..65536, VLAN tags included
                 (default 60, or the headers plus 16 bytes when longer: 78
                 with -6); give it twice (-l 1514 -l 64) for random lengths
                 in [second, first)
  -l imix        the simple IMIX: 64:7,570:4,1518:1 (lengths as -l's)
  -l len:w,...   a size mix: each length w times in every sum(w) frames,
                 interleaved (e.g. -l 64:7,570:4,1518:1); tx and txseq
  --vlan id      put an 802.1Q tag (VLAN id 0..4095) after the MACs
  --vlan o,i     QinQ: an 802.1ad tag (ethertype 0x88a8) with id o, then
                 an 802.1Q tag with id i; a receiver of txseq frames
                 (rxseq) and ping/pong take the same --vlan
  -4 / -6        IPv4 (default) / IPv6 UDP frames; an IPv6 -s or -d
                 ([fd00::2]:1234, fd00::2) selects -6 by itself
  -s range       source addr[:port][-addr[:port]]
                 (default 10.0.0.1:1234, with -6 [fd00::1]:1234)
  -d range       destination addr[:port][-addr[:port]]
                 (default 10.1.0.1:1234, with -6 [fd00::2]:1234);
                 a range makes every frame carry the next address/port
  -S mac         source MAC (default: the port's own, else 00:00:00:00:00:00)
  -D mac         destination MAC (default ff:ff:ff:ff:ff:ff)
  -z / -Z        random source / destination address and port
  -P file        send the first frame of this pcap file instead
  -H len         prepend an empty virtio-net header of 0, 10 or 12 bytes
  -F n           send each frame as n slots chained with NS_MOREFRAG (1..63,
                 default 1)
  -M size        bytes per fragment with -F (default: the buffer size)
  -r             "rubbish": tx sends buffers without filling them

Speed and threads
  -b burst       packets per sync, 1..8192 (default 512; 1 for ping/pong)
  -R rate        send at most rate packets per second (k/M/G suffix allowed,
                 e.g. -R 1M); the burst shrinks to rate/300 and one burst
                 goes out per period (default: no limit)
  -p threads     threads, 1..64 (default 1); with more than one each thread
                 opens one ring; ping, pong and txseq need exactly one
  --on-full how  tx, txseq: what to do after a sync in which the switch found
                 the destination ring full (its frames that did not fit are
                 dropped and counted, as in netmap): sleep:US sleeps US
                 microseconds (1..10000) so that a receiver that lost its CPU
                 catches up, yield gives the CPU to a thread waiting for it,
                 none sends on at once (netmap's pkt-gen) (default sleep:50)
  -a cpu         pin the first thread to this CPU, the next ones to the
                 following CPUs (default: no pinning)
  -c cpus        use at most this many CPUs, 0 = all (default 1)
  -C a[,b[,c[,d]]]  tx_slots,rx_slots,tx_rings,rx_rings for ports created on
                 the fly (VALE, pipes); 0 or missing = default; one slot count
                 sets both directions, a third number without a fourth sets
                 both ring counts (deprecated in netmap, use @conf: there)
  -w seconds     wait this long for the link before starting
                 (default 2, 0 for vale ports)
  -W             rx: exit after one second without traffic instead of
                 waiting forever
  --duration s   stop after s seconds (fractions allowed)

Output
  -T ms          milliseconds between report lines (default 1000)
  -A             add the mean/std-dev of pps over the last 15 reports
  -B             count 24 bytes of framing and CRC per packet in "raw" bps
  -N             plain numbers instead of K/M/G/T units
  -X             hex dump every packet
  -v             more messages (repeat for more)
  --json         end with one JSON summary line instead of the text summary
                 (keys: function, port, packets, bytes, events, seconds, pps,
                 mpps, gbps, raw_gbps, avg_batch, frame_len, and rtt_min_ns,
                 rtt_avg_ns for ping)
  -o bits        extra behaviour, sum of (decimal or 0x hex):
                   4 copy: tx copies the frame into every buffer it sends, byte
                     by byte (else only into buffers the port swapped in)
                   8 memcpy: the same with one block copy (TypedArray.set)
                  64 dump (-X)      256 rubbish (-r)
                 512 random src (-z)                 1024 random dst (-Z)
                2048 pps stats (-A)
                4096 update checksums (always done here: accepted, no change)

Header lines (stdout, as netmap's pkt-gen): "Sending on PORT: Q queues, T threads
and C cpus." (tx, txseq; then "SRC -> DST (SMAC -> DMAC)"), "Receiving from ..."
(rx, rxseq), "Working on ..." (ping, pong). Reports go to stderr, the summary to
stdout.

Not available (refused with the reason): -I and -o 32 (NS_INDIRECT slots point
at the sender's own memory; processes share only the region), -o 1 (prefetch:
no such instruction in JavaScript), -o 2 and -o 16 (no code of netmap's pkt-gen
reads them).

Environment
  NMTS_IDLE_HELPERS=0  keep V8's compiler and GC threads (and Node's own) at their
                 priority; by default (with CAP_SYS_NICE, e.g. root) they are
                 moved to SCHED_IDLE when the traffic starts, so they never take
                 a CPU from a data thread of this or another process, and back
                 if other work starves them for a second (docs/pkt-gen.md)
  NMTS_PKTGEN_WARM_MS=ms  how long each data thread warms its loop on a private
                 switch before the go (default 250, 0 = no warm-up)

Report line (every -T ms) and summary:
  6.728 Mpps (6.735 Mpkts 3.229 Gbps in 1001031 usec) 512.00 avg_batch 0 min_space
  Sent 500111222 packets 30006673320 bytes 976780 events 60 bytes each in 33.61 seconds.
  Speed: 14.880 Mpps Bandwidth: 7.142 Gbps (raw 7.142 Gbps). Average batch: 512.00 pkts
  Dropped 0 packets: the switch could not deliver them (receiver ring full, or no destination).
  (a receiver: "Dropped N packets: this port's receive ring was full."; --json: "dropped")

Examples
  nmts pkt-gen -i vale0:1 -f tx                  send 60-byte frames on vale0
  nmts pkt-gen -i vale0:2 -f rx                  ...and count them on another port
  nmts pkt-gen -i vale0:1 -f tx -l 1514 -R 100k -n 1000000
  nmts pkt-gen -i vale0:1 -f tx -s 10.0.0.1:1000-10.0.0.1:1099 --duration 10
  nmts pkt-gen -i vale1:a -f ping                measure round trips...
  nmts pkt-gen -i vale1:b -f pong                ...against an echoing port
  nmts pkt-gen -i vale0:2 -f rx -W --json        machine-readable result
`;
}
