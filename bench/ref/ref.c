/*
 * C references for `npm run bench -- --ref` (bench/ref.ts): plain C loops of the algorithms
 * netmap-ts runs, written for the benchmark (no code taken from netmap). Compiled with the
 * system's cc -O2 into a temporary directory; each run prints one JSON line
 * {"packets":N,"seconds":S} counted by the receiving side inside the measured window.
 *
 *   ref vale1 LEN WARM_MS DUR_MS   one thread: fill, gather + validate, learn + lookup,
 *                                  8-byte-word copy into the destination ring, per-batch
 *                                  publish, then drain that ring (as pkt-gen tx and rx would)
 *   ref vale2 LEN WARM_MS DUR_MS   the same with the receiver in a second thread, the rings
 *                                  in one MAP_SHARED mapping of a file in /dev/shm
 *   ref pipe  60  WARM_MS DUR_MS   shared-slot pipe: the sender writes slot lengths and
 *                                  publishes one index per batch, the receiver validates the
 *                                  slots it got and releases them (two threads)
 *   ref pipe1 60  WARM_MS DUR_MS   the same pipe in one thread: send a batch, then drain it
 *   ref pipe4 60  WARM_MS DUR_MS   the pipe in the four passes of netmap's API (two threads):
 *                                  the sender's fill, its txsync's check of every slot; the
 *                                  receiver's rxsync (a check of the slots it released) and
 *                                  its count (every slot's length read), as pkt-gen and the
 *                                  kernel (or pkt-gen and netmap-ts) split the work
 *   ref pipe41 60 WARM_MS DUR_MS   pipe4 in one thread: send a batch, then drain it
 *   ref copy  LEN WARM_MS DUR_MS   one thread copying LEN-byte frames between buffers (memcpy)
 *   ref xframe 60 WARM_MS DUR_MS   the memory pattern of lb's bench: one thread writes each
 *                                  frame (15 words of one of 1024 flows) into the next free
 *                                  buffer and publishes per batch; the other reads each
 *                                  frame's addresses and ports (bytes 26..37), folds them
 *                                  into a hash as rssFrameHash does, and releases the slots
 *   ref lb    60  WARM_MS DUR_MS   lb-4pipes-60 in C: one thread feeds an input pipe (each frame
 *                                  written whole, 1024 UDP flows) and drains 4 output pipes; the
 *                                  other is lb: per frame the symmetric Toeplitz hash of the
 *                                  addresses and ports (the 16-bit fold and two table lookups,
 *                                  as ours), then a buffer swap into output hash % 4, at most
 *                                  half the input ring per round, one publish per output
 *   ref line  0   WARM_MS DUR_MS   two threads pinned to the first and the last CPU pass one
 *                                  cache line back and forth; "packets" counts one-way
 *                                  transfers: the floor under every slot, index or frame
 *                                  that one core writes and another reads
 *
 * Layout like ours: 16-byte slots {u32 buf_idx, u16 len, u16 flags, u64 ptr}, 2048-byte
 * buffers 64-byte aligned, 1024-slot rings, batches of 512; the ring indices of each side sit
 * in cache lines of their own.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NSLOTS 1024u
#define BUFSZ 2048u
#define BATCH 512u
#define HASH 1024u
#define BCAST 254u

struct slot { uint32_t idx; uint16_t len; uint16_t flags; uint64_t ptr; };
struct ring {
  _Alignas(64) _Atomic uint32_t prod; /* written by the producer */
  _Alignas(64) _Atomic uint32_t hwcur; /* written by the consumer */
  _Alignas(64) _Atomic uint32_t lock;
  _Alignas(64) _Atomic uint32_t wake_seq; /* the receiver sleeps on it, as ours does */
  _Atomic uint32_t waiters;
  uint32_t pad[14];
  struct slot slots[NSLOTS];
};
struct mac_entry { uint32_t lo; uint32_t hi; };
struct shm {
  struct ring tx, rx;
  struct mac_entry table[HASH];
  _Alignas(64) _Atomic int phase; /* 0 warm-up, 1 measure, 2 stop */
  _Alignas(64) _Atomic uint64_t received;
  _Alignas(64) uint8_t bufs[];
};

static struct shm *g;
static unsigned frame_len;
static uint32_t nbufs;

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint32_t mac_hash(uint32_t lo, uint32_t hi) {
  return ((lo ^ (hi * 0x85ebca6bu)) * 0x9e3779b1u) >> 22; /* 1024 entries */
}

static void copy_words(uint64_t *d, const uint64_t *s, unsigned len) {
  for (unsigned i = 0, n = (len + 7) >> 3; i < n; i++) d[i] = s[i];
}

static struct shm *map_region(size_t size) {
  char path[] = "/dev/shm/nmts-ref-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0 || ftruncate(fd, size) != 0) { perror("ref: shm"); exit(1); }
  unlink(path);
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) { perror("ref: mmap"); exit(1); }
  close(fd);
  return p;
}

/* the wake-up protocol of src/core/wait.ts: the producer pays one load when nobody sleeps */
static void wake(struct ring *r) {
  if (atomic_load(&r->waiters)) {
    atomic_fetch_add(&r->wake_seq, 1);
    syscall(SYS_futex, &r->wake_seq, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
  }
}

static void sleep_on(struct ring *r, uint32_t head) {
  uint32_t seq = atomic_load(&r->wake_seq);
  atomic_fetch_add(&r->waiters, 1);
  if (atomic_load(&r->prod) == head) {
    struct timespec ts = { 0, 200 * 1000 * 1000 };
    syscall(SYS_futex, &r->wake_seq, FUTEX_WAIT, seq, &ts, NULL, 0);
  }
  atomic_fetch_sub(&r->waiters, 1);
}

static uint8_t *buf(uint32_t idx) { return g->bufs + (size_t)idx * BUFSZ; }

/* sender side of VALE: fill the tx ring, then forward [0, n) into the rx ring */
static uint64_t vale_send(uint32_t *txhead, uint64_t *drops) {
  struct ring *tx = &g->tx, *rx = &g->rx;
  uint32_t h = *txhead;
  /* fill: lengths only, the buffers hold the frame already (as pkt-gen) */
  for (unsigned i = 0; i < BATCH; i++) {
    struct slot *s = &tx->slots[(h + i) & (NSLOTS - 1)];
    if (s->len != frame_len) s->len = frame_len;
  }
  /* txsync: lock the destination, gather + validate + learn + lookup + copy per frame */
  while (atomic_exchange_explicit(&rx->lock, 1, memory_order_acquire)) ;
  uint32_t prod = atomic_load_explicit(&rx->prod, memory_order_relaxed);
  uint32_t stop = atomic_load_explicit(&rx->hwcur, memory_order_acquire);
  uint32_t space = (stop + NSLOTS - 1 - prod) & (NSLOTS - 1);
  uint64_t sent = 0;
  for (unsigned i = 0; i < BATCH; i++) {
    struct slot *s = &tx->slots[(h + i) & (NSLOTS - 1)];
    uint32_t idx = s->idx; unsigned len = s->len;
    if (idx < 2 || idx >= nbufs || len > BUFSZ) { fprintf(stderr, "bad slot\n"); exit(1); }
    const uint8_t *f = buf(idx);
    uint32_t slo, shi, dlo, dhi;
    memcpy(&dlo, f, 4); dhi = f[4] | f[5] << 8;
    memcpy(&slo, f + 6, 4); shi = f[10] | f[11] << 8;
    if (!(slo & 1)) {
      struct mac_entry *e = &g->table[mac_hash(slo, shi)];
      uint32_t v = shi | 1u << 16 | 1u << 24;
      if (e->lo != slo || e->hi != v) { e->lo = slo; e->hi = v; }
    }
    unsigned dst = BCAST;
    if (!(dlo & 1)) {
      struct mac_entry *e = &g->table[mac_hash(dlo, dhi)];
      if (e->lo == dlo && (e->hi & 0x100ffffu) == (dhi | 0x1000000u)) dst = (e->hi >> 16) & 0xff;
    }
    if (dst == 1 || dst == 2) {
      if (!space) { (*drops)++; continue; }
      struct slot *d = &rx->slots[prod];
      uint32_t didx = d->idx;
      if (didx < 2 || didx >= nbufs) { fprintf(stderr, "bad rx slot\n"); exit(1); }
      copy_words((uint64_t *)buf(didx), (const uint64_t *)f, len);
      d->len = len;
      d->flags = 0;
      prod = (prod + 1) & (NSLOTS - 1);
      space--;
      sent++;
    }
  }
  atomic_store_explicit(&rx->prod, prod, memory_order_release); /* one publish per batch */
  atomic_store_explicit(&rx->lock, 0, memory_order_release);
  if (sent) wake(rx);
  *txhead = (h + BATCH) & (NSLOTS - 1);
  return sent;
}

/* receiver side: take what was published, validate released slots, count, release */
static uint64_t drain(struct ring *r, uint32_t *head) {
  uint32_t prod = atomic_load_explicit(&r->prod, memory_order_acquire);
  uint64_t n = 0;
  for (uint32_t k = *head; k != prod; k = (k + 1) & (NSLOTS - 1)) {
    uint32_t idx = r->slots[k].idx;
    if (idx < 2 || idx >= nbufs) { fprintf(stderr, "bad slot\n"); exit(1); }
    n++;
  }
  if (n) {
    *head = prod;
    atomic_store_explicit(&r->hwcur, prod, memory_order_release);
  }
  return n;
}

/* a receiver thread's loop: `step` takes what was published (returns frames; `head` is the
   receiver's position, `aux` the step's own state), counted into g->received; ~2000 empty
   checks (~50 us, our poll's spin), then a sleep on the ring */
static void receive_loop(uint64_t (*step)(uint32_t *head, uint32_t *aux)) {
  uint32_t head = 0, aux = 0, idle = 0;
  while (atomic_load_explicit(&g->phase, memory_order_relaxed) < 2) {
    uint64_t n = step(&head, &aux);
    if (n) {
      atomic_fetch_add_explicit(&g->received, n, memory_order_relaxed);
      idle = 0;
    } else if (++idle > 2000) {
      sleep_on(&g->rx, head);
      idle = 0;
    }
  }
}

static uint64_t drain_rx(uint32_t *head, uint32_t *aux) { (void)aux; return drain(&g->rx, head); }
static void *vale_rx_thread(void *arg) { (void)arg; receive_loop(drain_rx); return NULL; }

/* the free slots a sender may fill from h (at most a batch) */
static uint32_t send_space(struct ring *r, uint32_t h) {
  uint32_t stop = atomic_load_explicit(&r->hwcur, memory_order_acquire);
  uint32_t space = (stop + NSLOTS - 1 - h) & (NSLOTS - 1);
  return space > BATCH ? BATCH : space;
}

/* publish n slots filled from *h: one store of prod per batch, then the wake-up */
static void publish(struct ring *r, uint32_t *h, uint32_t n) {
  *h = (*h + n) & (NSLOTS - 1);
  atomic_store_explicit(&r->prod, *h, memory_order_release);
  if (n) wake(r);
}

/* pipe: tx and rx share one slot array; the sender publishes prod, the receiver hwcur */
static void *pipe_rx_thread(void *arg) { return vale_rx_thread(arg); }

/* pipe4's sender: the fill pass, then the txsync pass, then one publish */
static uint64_t pipe4_send(uint32_t *h) {
  struct ring *r = &g->rx;
  uint32_t space = send_space(r, *h), k = *h;
  for (uint32_t i = 0; i < space; i++) { /* the application's fill */
    struct slot *s = &r->slots[(k + i) & (NSLOTS - 1)];
    if (s->len != frame_len) s->len = frame_len;
  }
  for (uint32_t i = 0; i < space; i++) { /* txsync: the prologue's slot check */
    struct slot *s = &r->slots[(k + i) & (NSLOTS - 1)];
    if (s->idx < 2 || s->idx >= nbufs || s->len > BUFSZ) { fprintf(stderr, "bad slot\n"); exit(1); }
  }
  publish(r, h, space);
  return space;
}

/* pipe4's receiver step: rxsync checks and releases what the last count took and picks up
   prod; then the count reads every new slot's length. Returns the frames counted. */
static uint64_t drain4(uint32_t *head, uint32_t *released) {
  struct ring *r = &g->rx;
  static volatile uint64_t sink;
  for (uint32_t k = *released; k != *head; k = (k + 1) & (NSLOTS - 1)) {
    uint32_t idx = r->slots[k].idx;
    if (idx < 2 || idx >= nbufs) { fprintf(stderr, "bad slot\n"); exit(1); }
  }
  if (*released != *head) { atomic_store_explicit(&r->hwcur, *head, memory_order_release); *released = *head; }
  uint32_t prod = atomic_load_explicit(&r->prod, memory_order_acquire);
  uint64_t n = 0, bytes = 0;
  for (uint32_t k = *head; k != prod; k = (k + 1) & (NSLOTS - 1)) { bytes += r->slots[k].len; n++; }
  sink += bytes;
  *head = prod;
  return n;
}

static void *pipe4_rx_thread(void *arg) { (void)arg; receive_loop(drain4); return NULL; }

static uint64_t pipe_send(uint32_t *h) {
  struct ring *r = &g->rx;
  uint32_t space = send_space(r, *h), k = *h;
  for (uint32_t i = 0; i < space; i++) {
    struct slot *s = &r->slots[k];
    if (s->len != frame_len) s->len = frame_len;
    /* the txsync prologue's slot check */
    if (s->idx < 2 || s->idx >= nbufs || s->len > BUFSZ) { fprintf(stderr, "bad slot\n"); exit(1); }
    k = (k + 1) & (NSLOTS - 1);
  }
  publish(r, h, space);
  return space;
}

/* xframe's reader step: each frame's addresses and ports folded into a hash, then released;
   the writer is main()'s loop (xframe_send) */
static uint64_t xframe_drain(uint32_t *head, uint32_t *aux) {
  (void)aux;
  struct ring *r = &g->rx;
  static volatile uint32_t sink;
  uint32_t prod = atomic_load_explicit(&r->prod, memory_order_acquire);
  uint64_t n = 0;
  uint32_t x = 0;
  for (uint32_t k = *head; k != prod; k = (k + 1) & (NSLOTS - 1)) {
    const uint8_t *f = buf(r->slots[k].idx);
    for (int i = 26; i < 38; i += 2) x ^= (uint32_t)f[i] << 8 | f[i + 1];
    n++;
  }
  sink += x;
  if (n) {
    *head = prod;
    atomic_store_explicit(&r->hwcur, prod, memory_order_release);
  }
  return n;
}
static void *xframe_rx_thread(void *arg) { (void)arg; receive_loop(xframe_drain); return NULL; }

static uint32_t xframes[1024][16];
static uint64_t xframe_send(uint32_t *h, uint32_t *flow) {
  struct ring *r = &g->rx;
  uint32_t space = send_space(r, *h), k = *h;
  for (uint32_t i = 0; i < space; i++) {
    struct slot *s = &r->slots[(k + i) & (NSLOTS - 1)];
    uint32_t *d = (uint32_t *)buf(s->idx);
    const uint32_t *src = xframes[*flow];
    for (int w = 0; w < 15; w++) d[w] = src[w];
    s->len = 60;
    *flow = (*flow + 1) & 1023;
  }
  publish(r, h, space);
  return space;
}

/* lb: an input pipe and 4 output pipes, each a shared-slot ring; buffers 2.. of the input
   ring, then 1024 for each output */
#define LB_OUTS 4u
struct lb_shm {
  struct ring in, out[LB_OUTS];
  _Alignas(64) _Atomic int phase;
  _Alignas(64) _Atomic uint64_t drops;
  _Alignas(64) uint8_t bufs[];
};
static struct lb_shm *lbm;
static uint32_t lb_key_hi[256], lb_key_lo[256]; /* Toeplitz of a folded 16-bit word, by byte */
static uint8_t lb_frames[1024][64];

static uint8_t *lb_buf(uint32_t idx) { return lbm->bufs + (size_t)idx * BUFSZ; }

/* the symmetric key repeats 0x6d5a, so every 16-bit word of the input meets the same key
   windows: the hash of the XOR of all words equals the hash of the input */
static void lb_tables(void) {
  const uint64_t key = 0x6d5a6d5a6d5a6d5aull;
  for (unsigned b = 0; b < 256; b++) {
    uint32_t hi = 0, lo = 0;
    for (unsigned i = 0; i < 8; i++) if (b & (0x80u >> i)) {
      hi ^= (uint32_t)(key << i >> 32);
      lo ^= (uint32_t)(key << (i + 8) >> 32);
    }
    lb_key_hi[b] = hi; lb_key_lo[b] = lo;
  }
}

static uint32_t lb_hash(const uint8_t *f, unsigned len) {
  if (len < 34 || f[12] != 0x08 || f[13] != 0 || (f[14] >> 4) != 4) {
    uint32_t w = 0; /* non-IPv4: the MAC addresses */
    for (unsigned i = 0; i < 12 && i + 1 < len; i += 2) w ^= (uint32_t)f[i] << 8 | f[i + 1];
    return lb_key_hi[w >> 8] ^ lb_key_lo[w & 0xff];
  }
  const uint8_t *ip = f + 14, *l4 = ip + ((ip[0] & 15u) << 2);
  uint32_t w = 0;
  for (unsigned i = 12; i < 20; i += 2) w ^= (uint32_t)ip[i] << 8 | ip[i + 1];
  int frag = ((ip[6] & 0x3f) | ip[7]) != 0;
  if (!frag && (ip[9] == 6 || ip[9] == 17 || ip[9] == 132) && l4 + 4 <= f + len) w ^= ((uint32_t)l4[0] << 8 | l4[1]) ^ ((uint32_t)l4[2] << 8 | l4[3]);
  return lb_key_hi[w >> 8] ^ lb_key_lo[w & 0xff];
}

static void *lb_thread(void *arg) {
  (void)arg;
  struct ring *in = &lbm->in;
  uint32_t head = 0, idle = 0, oprod[LB_OUTS] = { 0 };
  uint32_t nb = 2 + (1 + LB_OUTS) * NSLOTS;
  while (atomic_load_explicit(&lbm->phase, memory_order_relaxed) < 2) {
    uint32_t prod = atomic_load_explicit(&in->prod, memory_order_acquire);
    uint32_t n = (prod - head) & (NSLOTS - 1);
    if (n > NSLOTS / 2) n = NSLOTS / 2;
    if (!n) {
      if (++idle > 2000) { sleep_on(in, head); idle = 0; }
      continue;
    }
    idle = 0;
    uint32_t space[LB_OUTS];
    for (unsigned o = 0; o < LB_OUTS; o++) space[o] = send_space(&lbm->out[o], oprod[o]);
    uint64_t drops = 0;
    for (uint32_t i = 0, k = head; i < n; i++, k = (k + 1) & (NSLOTS - 1)) {
      struct slot *s = &in->slots[k];
      uint32_t idx = s->idx; unsigned len = s->len;
      if (idx < 2 || idx >= nb || len > BUFSZ) { fprintf(stderr, "bad slot\n"); exit(1); }
      uint32_t hash = lb_hash(lb_buf(idx), len), o = hash & (LB_OUTS - 1);
      if (!space[o]) { drops++; continue; }
      struct slot *d = &lbm->out[o].slots[oprod[o]];
      uint32_t old = d->idx;
      d->idx = idx; d->len = (uint16_t)len; d->flags = 1; d->ptr = hash;
      s->idx = old; s->flags = 1;
      oprod[o] = (oprod[o] + 1) & (NSLOTS - 1);
      space[o]--;
    }
    for (unsigned o = 0; o < LB_OUTS; o++) {
      atomic_store_explicit(&lbm->out[o].prod, oprod[o], memory_order_release);
      wake(&lbm->out[o]);
    }
    head = (head + n) & (NSLOTS - 1);
    atomic_store_explicit(&in->hwcur, head, memory_order_release);
    if (drops) atomic_fetch_add_explicit(&lbm->drops, drops, memory_order_relaxed);
  }
  return NULL;
}

static int run_lb(double warm, double dur) {
  uint32_t nb = 2 + (1 + LB_OUTS) * NSLOTS;
  lbm = (struct lb_shm *)map_region(sizeof(struct lb_shm) + (size_t)nb * BUFSZ);
  nbufs = nb;
  lb_tables();
  for (uint32_t i = 0; i < NSLOTS; i++) {
    lbm->in.slots[i].idx = 2 + i;
    for (unsigned o = 0; o < LB_OUTS; o++) lbm->out[o].slots[i].idx = 2 + (1 + o) * NSLOTS + i;
  }
  /* 1024 flows: 10.0.0.1:1000+k -> 10.1.0.1:53, UDP, 60 bytes */
  for (unsigned k = 0; k < 1024; k++) {
    static const uint8_t hdr[34] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0, 0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 1, 0, 1 };
    uint8_t *f = lb_frames[k];
    memcpy(f, hdr, 34);
    f[34] = (uint8_t)((1000 + k) >> 8); f[35] = (uint8_t)(1000 + k); f[36] = 0; f[37] = 53; f[38] = 0; f[39] = 26;
  }
  pthread_t th;
  if (pthread_create(&th, NULL, lb_thread, NULL)) return 1;
  uint32_t txh = 0, flow = 0, oh[LB_OUTS] = { 0 };
  uint64_t got = 0, at_start = 0;
  double t0 = now_s(), start = 0, end = 0, cpu0 = 0;
  for (;;) {
    double t = now_s();
    if (start == 0 && t - t0 >= warm) { start = t; cpu0 = cpu_s(); at_start = got; atomic_store(&lbm->phase, 1); }
    if (start != 0 && t - start >= dur) { end = t; break; }
    for (int rep = 0; rep < 8; rep++) {
      uint32_t space = send_space(&lbm->in, txh);
      for (uint32_t i = 0; i < space; i++) { /* each frame written whole: lb swapped the buffers */
        struct slot *s = &lbm->in.slots[(txh + i) & (NSLOTS - 1)];
        uint32_t idx = s->idx;
        if (idx < 2 || idx >= nb) { fprintf(stderr, "bad slot\n"); exit(1); }
        uint32_t *d = (uint32_t *)lb_buf(idx);
        const uint32_t *src = (const uint32_t *)lb_frames[flow];
        for (int w = 0; w < 15; w++) d[w] = src[w];
        s->len = 60; s->flags = 0;
        flow = (flow + 1) & 1023;
      }
      publish(&lbm->in, &txh, space);
      for (unsigned o = 0; o < LB_OUTS; o++) got += drain(&lbm->out[o], &oh[o]);
    }
  }
  double cpu = cpu_s() - cpu0;
  atomic_store(&lbm->phase, 2);
  wake(&lbm->in);
  pthread_join(th, NULL);
  printf("{\"packets\":%llu,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"drops\":%llu}\n", (unsigned long long)(got - at_start), end - start, cpu,
    (unsigned long long)atomic_load(&lbm->drops));
  return 0;
}

/* line: the two sides of a ping-pong on one cache line, each pinned to a CPU */
static _Alignas(64) _Atomic uint64_t line_word;
static int ncpu_last;
static void pin_to(int c) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(c, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}
static void *line_peer(void *arg) {
  (void)arg;
  pin_to(ncpu_last);
  for (uint64_t v = 1;; v += 2) {
    uint64_t w;
    while ((w = atomic_load_explicit(&line_word, memory_order_acquire)) != v) if (w == UINT64_MAX) return NULL;
    atomic_store_explicit(&line_word, v + 1, memory_order_release);
  }
}
static int run_line(double warm, double dur) {
  ncpu_last = (int)sysconf(_SC_NPROCESSORS_ONLN) - 1;
  if (ncpu_last < 1) { fprintf(stderr, "ref line: needs two CPUs\n"); return 1; }
  pthread_t th;
  if (pthread_create(&th, NULL, line_peer, NULL)) return 1;
  pin_to(0);
  uint64_t v = 0, at_start = 0;
  double t0 = now_s(), start = 0, t = t0;
  for (;;) {
    for (int i = 0; i < 1000; i++) {
      atomic_store_explicit(&line_word, ++v, memory_order_release);
      while (atomic_load_explicit(&line_word, memory_order_acquire) != v + 1) ;
      v++;
    }
    t = now_s();
    if (start == 0 && t - t0 >= warm) { start = t; at_start = v; }
    if (start != 0 && t - start >= dur) break;
  }
  atomic_store_explicit(&line_word, UINT64_MAX, memory_order_release);
  pthread_join(th, NULL);
  printf("{\"packets\":%llu,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"drops\":0}\n", (unsigned long long)(v - at_start), t - start, 2 * (t - start));
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) { fprintf(stderr, "usage: ref vale1|vale2|pipe|pipe1|pipe4|pipe41|xframe|lb|copy|line LEN WARM_MS DUR_MS\n"); return 2; }
  const char *mode = argv[1];
  frame_len = (unsigned)atoi(argv[2]);
  double warm = atof(argv[3]) / 1000, dur = atof(argv[4]) / 1000;
  if (!strcmp(mode, "line")) return run_line(warm, dur);
  if (!strcmp(mode, "lb")) return run_lb(warm, dur);
  nbufs = 2 + 3 * NSLOTS;
  g = map_region(sizeof(struct shm) + (size_t)nbufs * BUFSZ);
  /* frames: dst 02:..:02, src 02:..:01 in every tx buffer; buffers 2.. for tx, then rx */
  for (uint32_t i = 0; i < NSLOTS; i++) {
    g->tx.slots[i].idx = 2 + i;
    g->rx.slots[i].idx = 2 + NSLOTS + i;
    uint8_t *f = buf(2 + i);
    static const uint8_t hdr[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };
    memcpy(f, hdr, 12);
    for (unsigned j = 12; j < frame_len; j++) f[j] = (uint8_t)j;
  }
  /* the receiver's MAC is learned, as in the JS case */
  { uint32_t lo = 0x00000002, hi = 0x0200; g->table[mac_hash(lo, hi)] = (struct mac_entry){ lo, hi | 2u << 16 | 1u << 24 }; }
  uint64_t drops = 0, local = 0;
  uint32_t txhead = 0, rxhead = 0, rxreleased = 0, xflow = 0;
  int threaded = !strcmp(mode, "vale2") || !strcmp(mode, "pipe") || !strcmp(mode, "pipe4") || !strcmp(mode, "xframe");
  for (uint32_t f = 0; f < 1024; f++) for (int w = 0; w < 16; w++) xframes[f][w] = f * 2654435761u + (uint32_t)w * 40503u;
  pthread_t th;
  if (threaded && pthread_create(&th, NULL, !strcmp(mode, "pipe") ? pipe_rx_thread : !strcmp(mode, "pipe4") ? pipe4_rx_thread
    : !strcmp(mode, "xframe") ? xframe_rx_thread : vale_rx_thread, NULL)) return 1;
  double t0 = now_s(), start = 0, end = 0, cpu0 = 0;
  uint64_t at_start = 0;
  volatile uint64_t sink = 0;
  uint32_t cpos = 0;
  for (;;) {
    double t = now_s();
    if (start == 0 && t - t0 >= warm) {
      start = t;
      cpu0 = cpu_s();
      at_start = threaded ? atomic_load(&g->received) : local;
      atomic_store(&g->phase, 1);
    }
    if (start != 0 && t - start >= dur) { end = t; break; }
    for (int rep = 0; rep < 8; rep++) {
      if (!strcmp(mode, "copy")) {
        for (unsigned i = 0; i < BATCH; i++, cpos = (cpos + 1) & (NSLOTS - 1)) memcpy(buf(2 + NSLOTS + cpos), buf(2 + cpos), frame_len);
        local += BATCH;
        sink += buf(2 + NSLOTS + cpos)[0];
      } else if (!strcmp(mode, "pipe")) {
        pipe_send(&txhead);
      } else if (!strcmp(mode, "pipe4")) {
        pipe4_send(&txhead);
      } else if (!strcmp(mode, "xframe")) {
        xframe_send(&txhead, &xflow);
      } else if (!strcmp(mode, "pipe41")) {
        pipe4_send(&txhead);
        local += drain4(&rxhead, &rxreleased);
      } else if (!strcmp(mode, "pipe1")) {
        pipe_send(&txhead);
        local += drain(&g->rx, &rxhead);
      } else {
        vale_send(&txhead, &drops);
        if (!threaded) local += drain(&g->rx, &rxhead);
      }
    }
  }
  double cpu = cpu_s() - cpu0;
  uint64_t got = (threaded ? atomic_load(&g->received) : local) - at_start;
  atomic_store(&g->phase, 2);
  if (threaded) pthread_join(th, NULL);
  printf("{\"packets\":%llu,\"seconds\":%.6f,\"cpuSeconds\":%.6f,\"drops\":%llu}\n", (unsigned long long)got, end - start, cpu, (unsigned long long)drops);
  return 0;
}
