// A command whose output comes in many pieces, for WasiCommand's streamed output
// (examples/wasi-stream.mjs) and its tests: writes numbered lines, each with one write() so that
// each is one chunk, line i to stderr when i % 3 == 2 and to stdout otherwise:
//   lines 5          out 0, out 1, err 2, out 3, out 4; exits 0
//   lines -1         lines without end, each one a host call (for an output limit, a deadline or
//                    a signal to stop)
//   lines 2 spin     two lines, then a loop in pure wasm that makes no host call: only the fuel
//                    counter (a WasiCommand with a timeout) can stop it
// With no argument it writes 100 lines.
// No stdio and no atol (numbers are read and written by hand): the module stays about a kilobyte.
#include <string.h>
#include <unistd.h>

static long number(const char *s) {
  long sign = *s == '-' ? (s++, -1) : 1, n = 0;
  while (*s >= '0' && *s <= '9') n = n * 10 + (*s++ - '0');
  return sign * n;
}

int main(int argc, char **argv) {
  long lines = argc > 1 ? number(argv[1]) : 100;
  const char *then = argc > 2 ? argv[2] : "exit";
  for (long i = 0; lines < 0 || i < lines; i++) {
    int fd = i % 3 == 2 ? 2 : 1;
    char line[32];
    memcpy(line, fd == 1 ? "out " : "err ", 4);
    char digits[20];
    int d = 0;
    unsigned long v = (unsigned long)i;
    do digits[d++] = (char)('0' + v % 10); while ((v /= 10) != 0);
    int n = 4;
    while (d > 0) line[n++] = digits[--d];
    line[n++] = '\n';
    if (write(fd, line, (size_t)n) != n) return 2;
  }
  if (strcmp(then, "spin") == 0) {
    // The volatile counter keeps the loop from being optimized away (an empty infinite loop is
    // undefined behaviour in C).
    volatile unsigned long counter = 0;
    for (;;) counter++;
  }
  return 0;
}
