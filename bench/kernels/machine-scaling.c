/*
 * What this machine itself gives from a second thread (issue 13's 1 → 2 thread target), for the speed bench:
 * each of T threads does the same work, so T threads do T times the work of one.
 *
 *   machine-scaling compute T   independent floating-point chains (no memory traffic)
 *   machine-scaling pages T     touches every 4 KiB page of 128 MiB fresh anonymous memory, twice (mmap, touch,
 *                               munmap): what a program pays to get new memory, page fault by page fault
 *
 * Prints the wall time in seconds. The bench runs T = 1 and T = 2 alternately; 2·t(1)/t(2) is the speedup that
 * a second thread gives for that kind of work (2.0: perfect).
 * Build: gcc -O2 -pthread machine-scaling.c
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static volatile double sink;

static void *compute(void *arg) {
  (void)arg;
  double a = 1, b = 2, c = 3, d = 4, e = 5, f = 6, g = 7, h = 8;
  for (long i = 0; i < 400000000; i++) {
    a = a * 0.9999999 + 1e-7;
    b = b * 0.9999998 + 2e-7;
    c = c * 0.9999997 + 3e-7;
    d = d * 0.9999996 + 4e-7;
    e = e * 0.9999995 + 5e-7;
    f = f * 0.9999994 + 6e-7;
    g = g * 0.9999993 + 7e-7;
    h = h * 0.9999992 + 8e-7;
  }
  sink = a + b + c + d + e + f + g + h;
  return NULL;
}

static void *pages(void *arg) {
  (void)arg;
  const size_t bytes = (size_t)128 << 20;
  for (int round = 0; round < 2; round++) {
    char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      perror("mmap");
      exit(1);
    }
    for (size_t i = 0; i < bytes; i += 4096) p[i] = (char)i;
    sink = p[bytes / 2];
    munmap(p, bytes);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: machine-scaling compute|pages THREADS\n");
    return 2;
  }
  void *(*work)(void *) = strcmp(argv[1], "pages") == 0 ? pages : compute;
  int n = atoi(argv[2]);
  if (n < 1 || n > 64) return 2;
  pthread_t threads[64];
  double t0 = seconds();
  for (int i = 0; i < n; i++) pthread_create(&threads[i], NULL, work, NULL);
  for (int i = 0; i < n; i++) pthread_join(threads[i], NULL);
  printf("%.4f\n", seconds() - t0);
  return 0;
}
