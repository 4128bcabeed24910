// Echoes the request back as JSON: method, path, query, every HTTP_* header, and the body from
// stdin as a JSON string. Shows how a CGI guest reads its request: environment + stdin.
//
//   {"method":"POST","path":"/x","query":"a=1","headers":{"host":"..."},"body":"...","length":5}
//
// Unknown methods get `Status: 405 Method Not Allowed` with an Allow header.
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

// A growable output buffer, written out with one write() at the end.
// Buffers start in static memory and move to malloc only for large requests: wasi-libc's malloc
// grows linear memory, and a memory that grew cannot shrink back, so a pool must replace it.
static char out_static[256 << 10], body_static[64 << 10];
static char *out = out_static;
static size_t out_len, out_cap = sizeof out_static;

/** Grows `*buffer` (which starts in static memory) to at least `need` bytes. */
static char *grow(char *buffer, const char *initial, size_t *cap, size_t used, size_t need) {
  size_t next = *cap;
  while (next < need) next *= 2;
  char *bigger = buffer == initial ? malloc(next) : realloc(buffer, next);
  if (!bigger) _Exit(70);
  if (buffer == initial) memcpy(bigger, buffer, used);
  *cap = next;
  return bigger;
}

static void put(const char *s, size_t n) {
  if (out_len + n > out_cap) out = grow(out, out_static, &out_cap, out_len, out_len + n);
  memcpy(out + out_len, s, n);
  out_len += n;
}

static void puts_(const char *s) { put(s, strlen(s)); }

// write() may take less than asked (a pipe); loop until everything is out.
static int write_all(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, s, n);
    if (w <= 0) return -1;
    s += w, n -= (size_t)w;
  }
  return 0;
}

static const char hex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at s (at most n bytes), or 0 if it is invalid.
static size_t utf8_sequence(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len;
  unsigned min;
  unsigned cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) len = 2, cp = c & 0x1f, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) len = 3, cp = c & 0x0f, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, cp = c & 0x07, min = 0x10000;
  else return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

// Writes s as a JSON string: escapes quotes, backslashes and control characters, keeps valid UTF-8
// and replaces each byte of invalid UTF-8 with U+FFFD, so the output is always valid JSON.
static void put_json_string(const char *str, size_t n) {
  const unsigned char *s = (const unsigned char *)str;
  put("\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == '"') put("\\\"", 2), i++;
    else if (c == '\\') put("\\\\", 2), i++;
    else if (c == '\n') put("\\n", 2), i++;
    else if (c == '\r') put("\\r", 2), i++;
    else if (c == '\t') put("\\t", 2), i++;
    else if (c < 0x20 || c == 0x7f) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(e, 6), i++;
    } else {
      size_t len = utf8_sequence(s + i, n - i);
      if (len == 0) put("\\ufffd", 6), i++;
      else put((const char *)s + i, len), i += len;
    }
  }
  put("\"", 1);
}

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v ? v : "";
}

int main(void) {
  const char *method = env("REQUEST_METHOD");
  static const char *allowed[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
  int ok = 0;
  for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++) ok |= strcmp(method, allowed[i]) == 0;
  if (!ok) {
    static const char r[] = "Status: 405 Method Not Allowed\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\n"
                            "Content-Type: application/json\n\n{\"error\":\"method not allowed\"}\n";
    return write_all(r, sizeof r - 1) != 0;
  }

  // The body: read stdin to the end (CONTENT_LENGTH is only a hint here).
  size_t body_cap = sizeof body_static, body_len = 0;
  char *body = body_static;
  for (;;) {
    if (body_len == body_cap) body = grow(body, body_static, &body_cap, body_len, body_cap + 1);
    ssize_t n = read(0, body + body_len, body_cap - body_len);
    if (n <= 0) break;
    body_len += (size_t)n;
  }

  puts_("Content-Type: application/json\n\n{\"method\":");
  put_json_string(method, strlen(method));
  puts_(",\"path\":");
  put_json_string(env("PATH_INFO"), strlen(env("PATH_INFO")));
  puts_(",\"query\":");
  put_json_string(env("QUERY_STRING"), strlen(env("QUERY_STRING")));
  puts_(",\"headers\":{");
  int first = 1;
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "HTTP_", 5) != 0) continue;
    const char *eq = strchr(*e, '=');
    if (!eq) continue;
    // HTTP_X_FORWARDED_FOR -> x-forwarded-for
    char name[256];
    size_t len = (size_t)(eq - (*e + 5));
    if (len >= sizeof name) continue;
    for (size_t i = 0; i < len; i++) {
      char c = (*e)[5 + i];
      name[i] = c == '_' ? '-' : (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
    }
    if (!first) put(",", 1);
    first = 0;
    put_json_string(name, len);
    put(":", 1);
    put_json_string(eq + 1, strlen(eq + 1));
  }
  puts_("},\"body\":");
  put_json_string(body, body_len);
  char num[32];
  size_t k = sizeof num;
  size_t v = body_len;
  do num[--k] = (char)('0' + v % 10), v /= 10; while (v);
  puts_(",\"length\":");
  put(num + k, sizeof num - k);
  puts_("}\n");
  return write_all(out, out_len) != 0;
}
