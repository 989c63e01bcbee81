/*
 * The Linux side of the --vnf echo rows (bench/vnf-linux-echo.ts): a UDP echo server on
 * sockets, one thread, batched with recvmmsg/sendmmsg (the fastest plain-socket way), and
 * a pkt-gen style client that floods it over loopback and counts the answers.
 *
 *   udp-echo server             bind 127.0.0.1, an ephemeral port printed as "port N";
 *                               echo until SIGINT/SIGTERM, then print
 *                               {"received":N,"echoed":N}
 *   udp-echo client PORT PAYLOAD WARMUP_MS DURATION_MS
 *                               send PAYLOAD-byte datagrams in batches of 64 (sendmmsg,
 *                               never waiting), read the answers (recvmmsg, never waiting);
 *                               print {"packets":answers in the window,"seconds":S,
 *                               "sent":datagrams sent in it,"cpuSeconds":S}
 *
 * Written for this benchmark; compiled with cc -O2 by the bench (skipped without cc).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXLEN 2048

static volatile sig_atomic_t stop;
static void on_signal(int s) { (void)s; stop = 1; }

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double cpu_s(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

static int udp_socket(void) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) { perror("socket"); exit(1); }
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  return fd;
}

static char bufs[BATCH][MAXLEN];
static struct sockaddr_in peers[BATCH];
static struct iovec iov[BATCH];
static struct mmsghdr msgs[BATCH];

static void prepare(int named) {
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = MAXLEN;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    if (named) {
      msgs[i].msg_hdr.msg_name = &peers[i];
      msgs[i].msg_hdr.msg_namelen = sizeof peers[i];
    }
  }
}

static int server(void) {
  int fd = udp_socket();
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  socklen_t al = sizeof a;
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *)&a, &al) < 0) { perror("bind"); return 1; }
  printf("port %d\n", ntohs(a.sin_port));
  fflush(stdout);
  unsigned long long received = 0, echoed = 0;
  while (!stop) {
    for (int i = 0; i < BATCH; i++) { iov[i].iov_len = MAXLEN; msgs[i].msg_hdr.msg_namelen = sizeof peers[i]; }
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) { if (errno == EINTR) continue; perror("recvmmsg"); return 1; }
    received += n;
    for (int i = 0; i < n; i++) iov[i].iov_len = msgs[i].msg_len; /* the same buffer goes back */
    int done = 0;
    while (done < n) {
      int m = sendmmsg(fd, msgs + done, n - done, 0);
      if (m < 0) { if (errno == EINTR && !stop) continue; break; } /* a full queue: the rest is lost, as a kernel drops */
      done += m;
    }
    echoed += done;
  }
  printf("{\"received\":%llu,\"echoed\":%llu}\n", received, echoed);
  return 0;
}

static int client(int port, int payload, double warmup_ms, double duration_ms) {
  int fd = udp_socket();
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); return 1; }
  static char out[MAXLEN];
  memset(out, 'x', sizeof out);
  struct iovec oiov[BATCH];
  struct mmsghdr omsgs[BATCH];
  memset(omsgs, 0, sizeof omsgs);
  for (int i = 0; i < BATCH; i++) {
    oiov[i].iov_base = out;
    oiov[i].iov_len = payload;
    omsgs[i].msg_hdr.msg_iov = &oiov[i];
    omsgs[i].msg_hdr.msg_iovlen = 1;
  }
  prepare(0);
  double t0 = now_ms(), w0 = t0 + warmup_ms, w1 = w0 + duration_ms, c0 = 0, ws = 0, we = 0;
  unsigned long long answers = 0, sent = 0;
  int in = 0;
  for (;;) {
    double t = now_ms();
    if (!in && t >= w0) { in = 1; ws = t; c0 = cpu_s(); answers = 0; sent = 0; }
    if (t >= w1) { we = t; break; }
    int m = sendmmsg(fd, omsgs, BATCH, MSG_DONTWAIT);
    if (m > 0) sent += m;
    for (;;) {
      for (int i = 0; i < BATCH; i++) iov[i].iov_len = MAXLEN;
      int n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
      if (n <= 0) break;
      answers += n;
      if (n < BATCH) break;
    }
  }
  printf("{\"packets\":%llu,\"seconds\":%.6f,\"sent\":%llu,\"cpuSeconds\":%.6f}\n", answers, (we - ws) / 1e3, sent, cpu_s() - c0);
  return 0;
}

int main(int argc, char **argv) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: a blocked recvmmsg returns EINTR */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  if (argc >= 2 && strcmp(argv[1], "server") == 0) { prepare(1); return server(); }
  if (argc >= 6 && strcmp(argv[1], "client") == 0) return client(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), atof(argv[5]));
  fprintf(stderr, "usage: udp-echo server | udp-echo client PORT PAYLOAD WARMUP_MS DURATION_MS\n");
  return 2;
}
