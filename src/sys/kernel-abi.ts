// Linux kernel ABI used by the Linux-interface ports (AF_PACKET, AF_XDP, eBPF, interface ioctls):
// constants and struct layouts, in one place, with no native code.
//
// Rules, enforced by test/sys-abi.test.ts, which compiles a C program against the kernel and libc
// headers (linux-libc-dev, libc6-dev) and compares:
// - every exported number is named exactly like its C macro or enum constant;
// - every exported object is a struct layout: `size` is sizeof(), every other key is the C field
//   name and holds offsetof() (nested and union members are mapped in the test).
// Values are the x86-64 / arm64 ones (LP64); the only per-architecture value is SYS_bpf.

// ---- sockets (sys/socket.h, asm/socket.h) ----
export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_PACKET = 17;
export const AF_XDP = 44;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SOL_PACKET = 263;
export const SOL_XDP = 283;
export const SO_RCVBUF = 8;
export const SO_SNDBUF = 7;
export const SO_BUSY_POLL = 46;
export const SO_PREFER_BUSY_POLL = 69;
export const SO_BUSY_POLL_BUDGET = 70;
export const MSG_DONTWAIT = 0x40;

// ---- poll (poll.h) ----
export const POLLIN = 0x001;
export const POLLPRI = 0x002;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
export const POLLNVAL = 0x020;
export const pollfd = { size: 8, fd: 0, events: 4, revents: 6 } as const;

// ---- mmap (sys/mman.h) ----
export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const MAP_SHARED = 0x01;
export const MAP_PRIVATE = 0x02;
export const MAP_ANONYMOUS = 0x20;
export const MAP_NORESERVE = 0x4000;
export const MAP_POPULATE = 0x8000;

// ---- errno (asm-generic/errno-base.h, errno.h) ----
export const EPERM = 1;
export const ENOENT = 2;
export const ESRCH = 3;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const E2BIG = 7;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const EMFILE = 24;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EBADFD = 77;
export const EMSGSIZE = 90;
export const ENOTSOCK = 88;
export const EDESTADDRREQ = 89;
export const ENOPROTOOPT = 92;
export const EPROTONOSUPPORT = 93;
export const EOPNOTSUPP = 95;
export const EAFNOSUPPORT = 97;
export const EADDRINUSE = 98;
export const ENETDOWN = 100;
export const ENETUNREACH = 101;
export const ENOBUFS = 105;
export const ECONNREFUSED = 111;
export const EHOSTUNREACH = 113;
export const ETIMEDOUT = 110;

// ---- Ethernet (linux/if_ether.h, linux/if_arp.h) ----
export const ETH_ALEN = 6;
export const ETH_P_ALL = 0x0003;
export const ETH_P_IP = 0x0800;
export const ETH_P_ARP = 0x0806;
export const ETH_P_IPV6 = 0x86dd;
export const ARPHRD_ETHER = 1;
export const ARPHRD_LOOPBACK = 772;

// ---- interface ioctls (linux/sockios.h, linux/if.h) ----
export const IFNAMSIZ = 16;
export const SIOCGIFFLAGS = 0x8913;
export const SIOCGIFMTU = 0x8921;
export const SIOCGIFHWADDR = 0x8927;
export const SIOCGIFINDEX = 0x8933;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCSIFMTU = 0x8922;
export const SIOCSIFHWADDR = 0x8924;
export const IFF_UP = 0x1;
export const IFF_BROADCAST = 0x2;
export const IFF_LOOPBACK = 0x8;
export const IFF_POINTOPOINT = 0x10;
export const IFF_RUNNING = 0x40;
export const IFF_NOARP = 0x80;
export const IFF_PROMISC = 0x100;
export const IFF_MULTICAST = 0x1000;
/** struct ifreq: ifr_name, then a union (ifindex / flags (s16) / mtu / hwaddr as a sockaddr). */
export const ifreq = { size: 40, ifr_name: 0, ifr_ifindex: 16, ifr_flags: 16, ifr_mtu: 16, ifr_hwaddr: 16, ifr_data: 16 } as const;
export const sockaddr = { size: 16, sa_family: 0, sa_data: 2 } as const;

// ---- TUN/TAP devices (linux/if_tun.h; open flags from fcntl.h) ----
export const O_RDWR = 2;
export const O_NONBLOCK = 0o4000;
export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
/** TUNSETOFFLOAD (value argument): the offloads the reader takes (TUN_F_*), so the stack may hand it partial checksums and TSO frames */
export const TUNSETOFFLOAD = 0x400454d0;
/** TUNSETVNETHDRSZ (int pointer): the virtio-net header length of a device with IFF_VNET_HDR (10 or 12) */
export const TUNSETVNETHDRSZ = 0x400454d8;
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
/** ifr_flags of TUNSETIFF, and /sys/class/net/IF/tun_flags */
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_NAPI = 0x0010;
export const IFF_NO_PI = 0x1000;
export const IFF_VNET_HDR = 0x4000;
export const IFF_TUN_EXCL = 0x8000;
export const IFF_MULTI_QUEUE = 0x0100;
export const IFF_PERSIST = 0x0800;

// ---- AF_PACKET (linux/if_packet.h) ----
export const PACKET_HOST = 0;
export const PACKET_BROADCAST = 1;
export const PACKET_MULTICAST = 2;
export const PACKET_OTHERHOST = 3;
export const PACKET_OUTGOING = 4;
export const PACKET_ADD_MEMBERSHIP = 1;
export const PACKET_DROP_MEMBERSHIP = 2;
export const PACKET_RX_RING = 5;
export const PACKET_STATISTICS = 6;
export const PACKET_VERSION = 10;
export const PACKET_HDRLEN = 11;
export const PACKET_RESERVE = 12;
export const PACKET_TX_RING = 13;
export const PACKET_LOSS = 14;
/** frames read and written with a struct virtio_net_hdr (10 bytes) before the Ethernet header; set before the rings */
export const PACKET_VNET_HDR = 15;
export const PACKET_TIMESTAMP = 17;
export const PACKET_FANOUT = 18;
export const PACKET_QDISC_BYPASS = 20;
export const PACKET_IGNORE_OUTGOING = 23;
export const PACKET_MR_PROMISC = 1;
export const TPACKET_V1 = 0;
export const TPACKET_V2 = 1;
export const TPACKET_V3 = 2;
export const TPACKET_ALIGNMENT = 16;
/** TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + sizeof(struct sockaddr_ll) */
export const TPACKET3_HDRLEN = 68;
// RX frame / block status
export const TP_STATUS_KERNEL = 0;
export const TP_STATUS_USER = 1 << 0;
export const TP_STATUS_COPY = 1 << 1;
export const TP_STATUS_LOSING = 1 << 2;
export const TP_STATUS_CSUMNOTREADY = 1 << 3;
export const TP_STATUS_VLAN_VALID = 1 << 4;
export const TP_STATUS_BLK_TMO = 1 << 5;
// TX frame status
export const TP_STATUS_AVAILABLE = 0;
export const TP_STATUS_SEND_REQUEST = 1 << 0;
export const TP_STATUS_SENDING = 1 << 1;
export const TP_STATUS_WRONG_FORMAT = 1 << 2;
export const TP_FT_REQ_FILL_RXHASH = 0x1;
export const sockaddr_ll = {
  size: 20, sll_family: 0, sll_protocol: 2, sll_ifindex: 4, sll_hatype: 8, sll_pkttype: 10, sll_halen: 11, sll_addr: 12,
} as const;
export const packet_mreq = { size: 16, mr_ifindex: 0, mr_type: 4, mr_alen: 6, mr_address: 8 } as const;
/** struct tpacket2_hdr (TPACKET_V2: one status word per frame) */
export const tpacket2_hdr = {
  size: 32, tp_status: 0, tp_len: 4, tp_snaplen: 8, tp_mac: 12, tp_net: 14, tp_sec: 16, tp_nsec: 20, tp_vlan_tci: 24, tp_vlan_tpid: 26,
} as const;
/** struct tpacket_req (TPACKET_V1/V2 rings) */
export const tpacket_req = { size: 16, tp_block_size: 0, tp_block_nr: 4, tp_frame_size: 8, tp_frame_nr: 12 } as const;
export const tpacket_req3 = {
  size: 28, tp_block_size: 0, tp_block_nr: 4, tp_frame_size: 8, tp_frame_nr: 12, tp_retire_blk_tov: 16, tp_sizeof_priv: 20,
  tp_feature_req_word: 24,
} as const;
/** struct tpacket3_hdr; tp_rxhash, tp_vlan_tci, tp_vlan_tpid are in hv1 */
export const tpacket3_hdr = {
  size: 48, tp_next_offset: 0, tp_sec: 4, tp_nsec: 8, tp_snaplen: 12, tp_len: 16, tp_status: 20, tp_mac: 24, tp_net: 26,
  tp_rxhash: 28, tp_vlan_tci: 32, tp_vlan_tpid: 36,
} as const;
/** struct tpacket_block_desc; everything after offset_to_priv is in hdr.bh1 (struct tpacket_hdr_v1) */
export const tpacket_block_desc = {
  size: 48, version: 0, offset_to_priv: 4, block_status: 8, num_pkts: 12, offset_to_first_pkt: 16, blk_len: 20,
  seq_num: 24, ts_first_pkt: 32, ts_last_pkt: 40,
} as const;
/** PACKET_STATISTICS with TPACKET_V3 */
export const tpacket_stats_v3 = { size: 12, tp_packets: 0, tp_drops: 4, tp_freeze_q_cnt: 8 } as const;
/** PACKET_STATISTICS without a V3 ring */
export const tpacket_stats = { size: 8, tp_packets: 0, tp_drops: 4 } as const;

// ---- AF_XDP (linux/if_xdp.h) ----
export const XDP_MMAP_OFFSETS = 1;
export const XDP_RX_RING = 2;
export const XDP_TX_RING = 3;
export const XDP_UMEM_REG = 4;
export const XDP_UMEM_FILL_RING = 5;
export const XDP_UMEM_COMPLETION_RING = 6;
export const XDP_STATISTICS = 7;
export const XDP_OPTIONS = 8;
export const XDP_OPTIONS_ZEROCOPY = 1;
// sockaddr_xdp.sxdp_flags
export const XDP_SHARED_UMEM = 1 << 0;
export const XDP_COPY = 1 << 1;
export const XDP_ZEROCOPY = 1 << 2;
export const XDP_USE_NEED_WAKEUP = 1 << 3;
export const XDP_UMEM_UNALIGNED_CHUNK_FLAG = 1 << 0;
/** flag in a ring's `flags` word: the kernel wants a poll()/sendto() kick */
export const XDP_RING_NEED_WAKEUP = 1 << 0;
// mmap page offsets of the rings (byte offsets passed to mmap)
export const XDP_PGOFF_RX_RING = 0;
export const XDP_PGOFF_TX_RING = 0x80000000;
export const XDP_UMEM_PGOFF_FILL_RING = 0x100000000;
export const XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000;
export const sockaddr_xdp = { size: 16, sxdp_family: 0, sxdp_flags: 2, sxdp_ifindex: 4, sxdp_queue_id: 8, sxdp_shared_umem_fd: 12 } as const;
/** 32 bytes with padding; kernels >= 6.8 put tx_metadata_len (u32, leave 0) in the padding at 28 */
export const xdp_umem_reg = { size: 32, addr: 0, len: 8, chunk_size: 16, headroom: 20, flags: 24 } as const;
export const xdp_ring_offset = { size: 32, producer: 0, consumer: 8, desc: 16, flags: 24 } as const;
export const xdp_mmap_offsets = { size: 128, rx: 0, tx: 32, fr: 64, cr: 96 } as const;
export const xdp_desc = { size: 16, addr: 0, len: 8, options: 12 } as const;
export const xdp_statistics = {
  size: 48, rx_dropped: 0, rx_invalid_descs: 8, tx_invalid_descs: 16, rx_ring_full: 24, rx_fill_ring_empty_descs: 32,
  tx_ring_empty_descs: 40,
} as const;
export const xdp_options = { size: 4, flags: 0 } as const;

// ---- XDP attach (linux/if_link.h) and programs (linux/bpf.h) ----
export const XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0;
export const XDP_FLAGS_SKB_MODE = 1 << 1;
export const XDP_FLAGS_DRV_MODE = 1 << 2;
export const XDP_FLAGS_HW_MODE = 1 << 3;
export const XDP_FLAGS_REPLACE = 1 << 4;
export const XDP_ABORTED = 0;
export const XDP_DROP = 1;
export const XDP_PASS = 2;
export const XDP_TX = 3;
export const XDP_REDIRECT = 4;
/** struct xdp_md: the XDP program's context (32-bit fields) */
export const xdp_md = { size: 24, data: 0, data_end: 4, data_meta: 8, ingress_ifindex: 12, rx_queue_index: 16, egress_ifindex: 20 } as const;

// ---- bpf(2) (linux/bpf.h, sys/syscall.h) ----
export const SYS_bpf = process.arch === 'arm64' ? 280 : 321;
export const BPF_MAP_CREATE = 0;
export const BPF_MAP_LOOKUP_ELEM = 1;
export const BPF_MAP_UPDATE_ELEM = 2;
export const BPF_MAP_DELETE_ELEM = 3;
export const BPF_PROG_LOAD = 5;
export const BPF_OBJ_PIN = 6;
export const BPF_OBJ_GET = 7;
export const BPF_PROG_TEST_RUN = 10;
export const BPF_OBJ_GET_INFO_BY_FD = 15;
export const BPF_LINK_CREATE = 28;
export const BPF_LINK_DETACH = 34;
export const BPF_PROG_GET_FD_BY_ID = 13;
export const BPF_MAP_GET_FD_BY_ID = 14;
export const BPF_LINK_GET_FD_BY_ID = 30;
export const BPF_LINK_GET_NEXT_ID = 31;
export const BPF_LINK_TYPE_XDP = 6;
export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;
export const BPF_MAP_TYPE_DEVMAP = 14;
export const BPF_MAP_TYPE_CPUMAP = 16;
export const BPF_MAP_TYPE_XSKMAP = 17;
export const BPF_PROG_TYPE_XDP = 6;
export const BPF_XDP = 37;
export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const BPF_OBJ_NAME_LEN = 16;
export const BPF_PSEUDO_MAP_FD = 1;
// BPF_PROG_TEST_RUN flags: LIVE_FRAMES runs an XDP program on frames that really leave (XDP_TX,
// XDP_REDIRECT go out through the driver), `repeat` times, `batch_size` frames per NAPI-like batch
export const BPF_F_TEST_RUN_ON_CPU = 1 << 0;
export const BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1;
export const BPF_FUNC_map_lookup_elem = 1;
export const BPF_FUNC_redirect = 23;
export const BPF_FUNC_redirect_map = 51;
// instruction encoding (linux/bpf_common.h, linux/bpf.h): op = class | size/op | mode/source
export const BPF_LD = 0x00;
export const BPF_LDX = 0x01;
export const BPF_ST = 0x02;
export const BPF_STX = 0x03;
export const BPF_ALU = 0x04;
export const BPF_JMP = 0x05;
export const BPF_ALU64 = 0x07;
export const BPF_W = 0x00;
export const BPF_H = 0x08;
export const BPF_B = 0x10;
export const BPF_DW = 0x18;
export const BPF_IMM = 0x00;
export const BPF_MEM = 0x60;
export const BPF_K = 0x00;
export const BPF_X = 0x08;
export const BPF_MOV = 0xb0;
export const BPF_CALL = 0x80;
export const BPF_EXIT = 0x90;
export const BPF_REG_0 = 0;
export const BPF_REG_1 = 1;
export const BPF_REG_2 = 2;
export const BPF_REG_3 = 3;
export const bpf_insn = { size: 8, code: 0, off: 2, imm: 4 } as const;
// union bpf_attr, one layout per command (the union is larger; a zeroed prefix is accepted)
export const bpf_attr_map_create = { map_type: 0, key_size: 4, value_size: 8, max_entries: 12, map_flags: 16, map_name: 28 } as const;
export const bpf_attr_map_elem = { map_fd: 0, key: 8, value: 16, flags: 24 } as const;
export const bpf_attr_prog_load = {
  prog_type: 0, insn_cnt: 4, insns: 8, license: 16, log_level: 24, log_size: 28, log_buf: 32, kern_version: 40,
  prog_flags: 44, prog_name: 48, prog_ifindex: 64, expected_attach_type: 68,
} as const;
export const bpf_attr_test = {
  prog_fd: 0, retval: 4, data_size_in: 8, data_size_out: 12, data_in: 16, data_out: 24, repeat: 32, duration: 36,
  ctx_size_in: 40, ctx_size_out: 44, ctx_in: 48, ctx_out: 56, flags: 64, cpu: 68, batch_size: 72,
} as const;
export const bpf_attr_info = { bpf_fd: 0, info_len: 4, info: 8 } as const;
export const bpf_attr_link_create = { prog_fd: 0, target_ifindex: 4, attach_type: 8, flags: 12 } as const;
/** the leading fields of struct bpf_prog_info (BPF_OBJ_GET_INFO_BY_FD on a program) */
export const bpf_prog_info = { type: 0, id: 4, tag: 8, nr_map_ids: 52, map_ids: 56, name: 64 } as const;
/** BPF_*_GET_NEXT_ID and BPF_*_GET_FD_BY_ID (start_id shares its place with link_id, map_id, prog_id) */
export const bpf_attr_get_id = { start_id: 0, next_id: 4, open_flags: 8 } as const;
/** the leading fields of struct bpf_link_info; the interface of an XDP link is in its union */
export const bpf_link_info = { type: 0, id: 4, prog_id: 8, xdp_ifindex: 16 } as const;
/** the leading fields of struct bpf_map_info */
export const bpf_map_info = { type: 0, id: 4, key_size: 8, value_size: 12, max_entries: 16 } as const;

// ---- ethtool (linux/ethtool.h, linux/sockios.h): reading offload settings ----
export const SIOCETHTOOL = 0x8946;
export const ETHTOOL_GRXCSUM = 0x14;
export const ETHTOOL_GTXCSUM = 0x16;
export const ETHTOOL_GTSO = 0x1e;
export const ETHTOOL_GFLAGS = 0x25;
export const ETHTOOL_GGSO = 0x23;
export const ETHTOOL_GGRO = 0x2b;
export const ETH_FLAG_LRO = 1 << 15;
export const ethtool_value = { size: 8, cmd: 0, data: 4 } as const;

// ---- scatter/gather sends (sys/socket.h, bits/types/struct_iovec.h) ----
export const iovec = { size: 16, iov_base: 0, iov_len: 8 } as const;
export const msghdr = {
  size: 56, msg_name: 0, msg_namelen: 8, msg_iov: 16, msg_iovlen: 24, msg_control: 32, msg_controllen: 40, msg_flags: 48,
} as const;
export const mmsghdr = { size: 64, msg_hdr: 0, msg_len: 56 } as const;
/** sendmmsg() sends at most this many messages per call */
export const UIO_MAXIOV = 1024;
/** msg_flags of a received message: the datagram was longer than the buffers (recvmmsg) */
export const MSG_TRUNC = 0x20;

// ---- UDP and raw IPv4 sockets (netinet/in.h): the VXLAN port's underlay ----
export const IPPROTO_IP = 0;
export const IPPROTO_UDP = 17;
export const IPPROTO_RAW = 255;
export const IP_ADD_MEMBERSHIP = 35;
export const SO_REUSEADDR = 2;
export const SO_BINDTODEVICE = 25;
export const IP_MULTICAST_IF = 32;
/** UDP GSO (linux/udp.h): the segment size, as a socket option or per message (cmsg at SOL_UDP) */
export const SOL_UDP = 17;
export const UDP_SEGMENT = 103;
export const IP_TTL = 2;
export const IP_MTU_DISCOVER = 10;
export const IP_PMTUDISC_DONT = 0;
export const IP_PMTUDISC_DO = 2;
export const IP_MULTICAST_TTL = 33;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MULTICAST_HOPS = 18;
/** struct cmsghdr (64-bit): len, level, type; data at 16; CMSG_SPACE(2) = 24 */
export const cmsghdr = { size: 16, cmsg_len: 0, cmsg_level: 8, cmsg_type: 12 } as const;
export const sockaddr_in = { size: 16, sin_family: 0, sin_port: 2, sin_addr: 4 } as const;
export const ip_mreqn = { size: 12, imr_multiaddr: 0, imr_address: 4, imr_ifindex: 8 } as const;
// ... and IPv6 (an IPv6 underlay)
export const IPPROTO_IPV6 = 41;
export const IPV6_MULTICAST_IF = 17;
export const IPV6_ADD_MEMBERSHIP = 20;
export const IPV6_V6ONLY = 26;
export const sockaddr_in6 = { size: 28, sin6_family: 0, sin6_port: 2, sin6_flowinfo: 4, sin6_addr: 8, sin6_scope_id: 24 } as const;
export const ipv6_mreq = { size: 20, ipv6mr_multiaddr: 0, ipv6mr_interface: 16 } as const;
