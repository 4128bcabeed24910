// A CGI guest with a scratch directory: every request writes a note and a secret into /data (a
// writable preopen), reads them back, and reports what it found there before writing. Served with
// the default overlay, no request ever finds what the previous one wrote, and the host directory
// is never changed:
//
//   cowpool serve examples/scratch.wasm --dir ./some-dir::/data
//   curl 'http://localhost:8080/?note=hello'   # -> found before: nothing; wrote and read back "hello"
//   curl 'http://localhost:8080/?note=again'   # -> found before: nothing (again)
//
// With `--dir ./some-dir::/data:rw` (persistent) the second request finds the first one's files.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOTE "/data/note.txt"
#define SECRET "/data/.secret"

// The value of `key` in the query string (first match, no decoding), or "" when absent.
static void query_value(const char *query, const char *key, char *out, size_t size) {
  size_t key_length = strlen(key);
  out[0] = '\0';
  for (const char *p = query; p && *p;) {
    if (strncmp(p, key, key_length) == 0 && p[key_length] == '=') {
      const char *value = p + key_length + 1;
      size_t n = strcspn(value, "&");
      if (n >= size) n = size - 1;
      memcpy(out, value, n);
      out[n] = '\0';
      return;
    }
    p = strchr(p, '&');
    if (p) p++;
  }
}

// Reads the whole of `path` into `out`; returns the length, or -1 (errno set) when it cannot.
static long read_file(const char *path, char *out, size_t size) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t n = fread(out, 1, size - 1, f);
  out[n] = '\0';
  fclose(f);
  return (long)n;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fputs(text, f) >= 0;
  return fclose(f) == 0 && ok ? 0 : -1;
}

int main(void) {
  char note[256], before[256], back[256];
  query_value(getenv("QUERY_STRING"), "note", note, sizeof note);
  if (note[0] == '\0') strcpy(note, "a note");

  printf("Content-Type: text/plain\n\n");
  long found = read_file(NOTE, before, sizeof before);
  int secret_found = access(SECRET, F_OK) == 0;
  if (found >= 0) printf("found before: note \"%s\"\n", before);
  else printf("found before: no note\n");
  printf("found before: %s\n", secret_found ? "a secret" : "no secret");

  if (write_file(NOTE, note) != 0 || write_file(SECRET, "s3cr3t: only this request may see me\n") != 0) {
    printf("could not write: %s\n", strerror(errno));
    return 0;
  }
  if (read_file(NOTE, back, sizeof back) < 0) {
    printf("could not read back: %s\n", strerror(errno));
    return 0;
  }
  printf("wrote and read back: \"%s\"\n", back);
  return 0;
}
