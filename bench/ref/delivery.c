/*
 * C reference for bench/xproc-delivery.ts (`--ref-c`): netmap's first experiment written as a
 * plain C program for the benchmark (no code taken from netmap), so that what this machine
 * does to two processes that hand frames over shared memory can be told apart from what our
 * code does.
 *
 *   delivery N RATE GIVEWAY_US
 *
 * fork()s a receiver and a sender that share one MAP_SHARED mapping of a file in /dev/shm:
 * one receive ring of 4096 16-byte slots (pkt-gen -f rx's ring here) over 2048-byte buffers.
 * The receiver starts first; it takes what was published, checks each slot's buffer index,
 * counts, releases, and after ~50 us without frames sleeps on a futex (the wake-up protocol of
 * src/core/wait.ts). The sender copies N 60-byte frames into the ring in batches of 512 (as
 * pkt-gen, forwarding in its own "txsync"), one publish and one wake-up per batch, and drops
 * and counts what finds the ring full (VALE's rule). RATE > 0 paces it as `pkt-gen -R`: a
 * batch of min(512, RATE/300) frames per period, sleeping in between (waking 100 us early and
 * spinning the rest). GIVEWAY_US > 0: after a batch that met a full ring the sender sleeps that
 * long (pkt-gen --on-full sleep:US); 0 sends on (netmap's pkt-gen).
 *
 * Prints one JSON line: {"sent":N,"received":R,"dropped":D}, with received + dropped = sent.
 */
#define _GNU_SOURCE
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NSLOTS 4096u
#define BUFSZ 2048u
#define MAXBATCH 512u
#define LEN 60u

struct slot { uint32_t idx; uint16_t len; uint16_t flags; uint64_t ptr; };
struct shm {
  _Alignas(64) _Atomic uint32_t prod;     /* written by the sender */
  _Alignas(64) _Atomic uint32_t hwcur;    /* written by the receiver */
  _Alignas(64) _Atomic uint32_t wake_seq;
  _Atomic uint32_t waiters;
  _Alignas(64) _Atomic uint32_t ready;    /* the receiver is running */
  _Atomic uint32_t done;                  /* the sender has finished: drain and stop */
  _Alignas(64) _Atomic uint64_t received;
  _Alignas(64) struct slot slots[NSLOTS];
  _Alignas(64) uint8_t bufs[];
};

static struct shm *g;
static const uint32_t nbufs = 2 + NSLOTS + 1;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void wake(void) {
  if (atomic_load(&g->waiters)) {
    atomic_fetch_add(&g->wake_seq, 1);
    syscall(SYS_futex, &g->wake_seq, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
  }
}

static void receiver(void) {
  uint32_t head = 0, idle = 0;
  uint64_t n = 0;
  atomic_store(&g->ready, 1);
  for (;;) {
    uint32_t prod = atomic_load_explicit(&g->prod, memory_order_acquire);
    if (prod != head) {
      for (uint32_t k = head; k != prod; k = (k + 1) & (NSLOTS - 1)) {
        uint32_t idx = g->slots[k].idx;
        if (idx < 2 || idx >= nbufs) { fprintf(stderr, "delivery: bad slot\n"); exit(1); }
        n++;
      }
      head = prod;
      atomic_store_explicit(&g->hwcur, head, memory_order_release);
      atomic_store_explicit(&g->received, n, memory_order_relaxed);
      idle = 0;
      continue;
    }
    if (atomic_load(&g->done)) return;
    if (++idle > 2000) { /* ~50 us of empty looks, then sleep (200 ms at most) */
      uint32_t seq = atomic_load(&g->wake_seq);
      atomic_fetch_add(&g->waiters, 1);
      if (atomic_load(&g->prod) == head && !atomic_load(&g->done)) {
        struct timespec ts = { 0, 200 * 1000 * 1000 };
        syscall(SYS_futex, &g->wake_seq, FUTEX_WAIT, seq, &ts, NULL, 0);
      }
      atomic_fetch_sub(&g->waiters, 1);
      idle = 0;
    }
  }
}

static void wait_until(double t) {
  double left = t - now_s();
  if (left > 120e-6) {
    struct timespec ts = { 0, (long)((left - 100e-6) * 1e9) };
    nanosleep(&ts, NULL);
  }
  while (now_s() < t) ;
}

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: delivery N RATE GIVEWAY_US\n"); return 2; }
  uint64_t n = strtoull(argv[1], NULL, 10);
  double rate = atof(argv[2]);
  long giveway_us = atol(argv[3]);
  char path[] = "/dev/shm/nmts-ref-delivery-XXXXXX";
  int fd = mkstemp(path);
  size_t size = sizeof(struct shm) + (size_t)nbufs * BUFSZ;
  if (fd < 0 || ftruncate(fd, size) != 0) { perror("delivery: shm"); return 1; }
  unlink(path);
  g = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (g == MAP_FAILED) { perror("delivery: mmap"); return 1; }
  close(fd);
  for (uint32_t i = 0; i < NSLOTS; i++) g->slots[i].idx = 2 + i;
  uint8_t *frame = g->bufs + (size_t)(nbufs - 1) * BUFSZ; /* the sender's one frame */
  for (unsigned j = 0; j < LEN; j++) frame[j] = (uint8_t)j;

  pid_t child = fork();
  if (child < 0) { perror("delivery: fork"); return 1; }
  if (child == 0) { receiver(); _exit(0); }
  while (!atomic_load(&g->ready)) usleep(100);
  usleep(20000); /* the receiver is idle and asleep when the first frame comes, as in the experiment */

  unsigned batch = MAXBATCH;
  double period = 0, next = now_s();
  if (rate > 0) {
    unsigned b = (unsigned)(rate / 300);
    batch = b < 1 ? 1 : b < MAXBATCH ? b : MAXBATCH;
    period = batch / rate;
  }
  uint64_t sent = 0, dropped = 0;
  uint32_t prod = 0;
  while (sent < n) {
    if (period) {
      next += period;
      double late = now_s() - next;
      if (late > 2 * period) next += late - 2 * period;
      wait_until(next);
    }
    unsigned todo = n - sent < batch ? (unsigned)(n - sent) : batch;
    uint32_t stop = atomic_load_explicit(&g->hwcur, memory_order_acquire);
    uint32_t space = (stop + NSLOTS - 1 - prod) & (NSLOTS - 1);
    unsigned fit = todo < space ? todo : space;
    for (unsigned i = 0; i < fit; i++) {
      struct slot *s = &g->slots[prod];
      memcpy(g->bufs + (size_t)s->idx * BUFSZ, frame, LEN);
      s->len = LEN;
      prod = (prod + 1) & (NSLOTS - 1);
    }
    atomic_store_explicit(&g->prod, prod, memory_order_release);
    if (fit) wake();
    sent += todo;
    dropped += todo - fit;
    if (fit < todo && giveway_us > 0) {
      struct timespec ts = { 0, giveway_us * 1000 };
      nanosleep(&ts, NULL);
    }
  }
  /* the receiver takes what is left, then stops */
  double deadline = now_s() + 2;
  while (atomic_load(&g->received) + dropped < sent && now_s() < deadline) usleep(100);
  atomic_store(&g->done, 1);
  wake();
  waitpid(child, NULL, 0);
  printf("{\"sent\":%llu,\"received\":%llu,\"dropped\":%llu}\n", (unsigned long long)sent,
    (unsigned long long)atomic_load(&g->received), (unsigned long long)dropped);
  return 0;
}
