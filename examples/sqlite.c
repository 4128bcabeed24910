// SQL over HTTP on a real library: SQLite (public domain), built for wasm32-wasi with no file
// system at all. Each request gets a fresh in-memory database seeded with a small table, runs the
// SQL from `?q=...` (URL-decoded) or from the POST body, and answers the last statement's rows:
//
//   GET /?q=SELECT+name,legs+FROM+animals+WHERE+legs>2
//   {"columns":["name","legs"],"rows":[["cow",4],["spider",8]],"changes":0}
//
// SQL errors answer `Status: 400 Bad Request` with {"error": "..."}.
//
// SQLite is compiled with SQLITE_OS_OTHER: instead of its unix VFS (which needs POSIX file locking
// wasi-libc does not have), this file registers a VFS that can open no file. ":memory:" databases
// and SQLITE_TEMP_STORE=3 (temp tables in memory) never ask for one.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sqlite3.h"

// ---- The VFS: randomness, time and sleep only --------------------------------------------------

static int vfs_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out_flags) {
  (void)vfs, (void)name, (void)flags, (void)out_flags;
  file->pMethods = 0;  // tells SQLite there is nothing to close
  return SQLITE_CANTOPEN;
}
static int vfs_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
  (void)vfs, (void)name, (void)sync_dir;
  return SQLITE_IOERR_DELETE;
}
static int vfs_access(sqlite3_vfs *vfs, const char *name, int flags, int *result) {
  (void)vfs, (void)name, (void)flags;
  *result = 0;
  return SQLITE_OK;
}
static int vfs_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
  (void)vfs;
  sqlite3_snprintf(n, out, "%s", name);
  return SQLITE_OK;
}
static int vfs_randomness(sqlite3_vfs *vfs, int n, char *out) {
  (void)vfs;
  for (int done = 0; done < n; done += 256) {  // getentropy() takes at most 256 bytes per call
    int chunk = n - done < 256 ? n - done : 256;
    if (getentropy(out + done, (size_t)chunk) != 0) return done;
  }
  return n;
}
static int vfs_sleep(sqlite3_vfs *vfs, int microseconds) {
  (void)vfs;
  usleep((useconds_t)microseconds);
  return microseconds;
}
static int vfs_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
  (void)vfs;
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  // Julian day number in milliseconds: 2440587.5 days separate the Julian epoch from 1970.
  *out = (sqlite3_int64)210866760000000LL + (sqlite3_int64)t.tv_sec * 1000 + t.tv_nsec / 1000000;
  return SQLITE_OK;
}
static int vfs_current_time(sqlite3_vfs *vfs, double *out) {
  sqlite3_int64 ms;
  vfs_current_time_int64(vfs, &ms);
  *out = (double)ms / 86400000.0;
  return SQLITE_OK;
}
static int vfs_get_last_error(sqlite3_vfs *vfs, int n, char *out) {
  (void)vfs, (void)n, (void)out;
  return 0;
}

static sqlite3_vfs memory_only_vfs = {
    .iVersion = 2,
    .szOsFile = sizeof(sqlite3_file),
    .mxPathname = 512,
    .zName = "memory-only",
    .xOpen = vfs_open,
    .xDelete = vfs_delete,
    .xAccess = vfs_access,
    .xFullPathname = vfs_full_pathname,
    .xRandomness = vfs_randomness,
    .xSleep = vfs_sleep,
    .xCurrentTime = vfs_current_time,
    .xGetLastError = vfs_get_last_error,
    .xCurrentTimeInt64 = vfs_current_time_int64,
};

int sqlite3_os_init(void) { return sqlite3_vfs_register(&memory_only_vfs, 1); }
int sqlite3_os_end(void) { return SQLITE_OK; }

// ---- Memory -------------------------------------------------------------------------------------
// Every allocation, SQLite's and this file's, comes from one static heap (SQLite's memsys5) rather
// than from malloc: wasi-libc's malloc grows linear memory, and a memory that grew cannot be reset
// to its initial size, so a pool must replace it after every request. A static heap lies in the
// initial memory, where copy-on-write makes its untouched pages free.

static char heap[8 << 20];
#define malloc(n) sqlite3_malloc64(n)
#define realloc(p, n) sqlite3_realloc64((p), (n))

// ---- Output -------------------------------------------------------------------------------------

static char *out;
static size_t out_len, out_cap;

static void put(const char *s, size_t n) {
  if (out_len + n > out_cap) {
    out_cap = (out_len + n) * 2 + 1024;
    out = realloc(out, out_cap);
    if (!out) _Exit(70);
  }
  memcpy(out + out_len, s, n);
  out_len += n;
}
static void puts_(const char *s) { put(s, strlen(s)); }

static void put_json_string(const char *str, size_t n) {
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  put("\"", 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(e, 2);
    } else if (c < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      put(e, 6);
    } else {
      put((const char *)s + i, 1);  // SQLite text is UTF-8 already
    }
  }
  put("\"", 1);
}

static int write_all(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, s, n);
    if (w <= 0) return -1;
    s += w, n -= (size_t)w;
  }
  return 0;
}

static int respond_error(const char *status, const char *message) {
  out_len = 0;
  puts_("Status: ");
  puts_(status);
  puts_("\nContent-Type: application/json\n\n{\"error\":");
  put_json_string(message, strlen(message));
  puts_("}\n");
  write_all(out, out_len);
  return 0;  // the request was answered; the exit status is for crashes
}

// ---- Request ------------------------------------------------------------------------------------

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The URL-decoded value of `name` in a query string (form encoding: '+' is a space), or NULL.
static char *query_param(const char *query, const char *name) {
  size_t name_len = strlen(name);
  for (const char *p = query; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
    if (strncmp(p, name, name_len) != 0 || p[name_len] != '=') continue;
    const char *v = p + name_len + 1;
    size_t len = strcspn(v, "&");
    char *decoded = malloc(len + 1), *d = decoded;
    for (size_t i = 0; i < len; i++) {
      int hi, lo;
      if (v[i] == '+') *d++ = ' ';
      else if (v[i] == '%' && i + 2 < len && (hi = hex_value(v[i + 1])) >= 0 && (lo = hex_value(v[i + 2])) >= 0) {
        *d++ = (char)(hi * 16 + lo);
        i += 2;
      } else *d++ = v[i];
    }
    *d = 0;
    return decoded;
  }
  return NULL;
}

static char *read_body(void) {
  size_t cap = 4096, len = 0;
  char *body = malloc(cap);
  for (;;) {
    if (len + 1 >= cap) body = realloc(body, cap *= 2);
    if (!body) _Exit(70);
    ssize_t n = read(0, body + len, cap - len - 1);
    if (n <= 0) break;
    len += (size_t)n;
  }
  body[len] = 0;
  return body;
}

static const char seed[] =
    "CREATE TABLE animals(id INTEGER PRIMARY KEY, name TEXT NOT NULL, legs INTEGER, weight_kg REAL);"
    "INSERT INTO animals(name, legs, weight_kg) VALUES"
    " ('cow', 4, 720.0), ('chicken', 2, 2.5), ('snake', 0, 1.2), ('spider', 8, 0.002);";

enum { kMaxRows = 1000 };

int main(void) {
  sqlite3_config(SQLITE_CONFIG_HEAP, heap, (int)sizeof heap, 64);
  const char *method = getenv("REQUEST_METHOD");
  char *sql = NULL;
  if (method && strcmp(method, "POST") == 0) sql = read_body();
  if (!sql || !*sql) {
    const char *query = getenv("QUERY_STRING");
    sql = query ? query_param(query, "q") : NULL;
  }
  if (!sql || !*sql) return respond_error("400 Bad Request", "send SQL as ?q=... or as the POST body");

  sqlite3 *db;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) return respond_error("500 Internal Server Error", "cannot open database");
  char *err = NULL;
  if (sqlite3_exec(db, seed, NULL, NULL, &err) != SQLITE_OK) return respond_error("500 Internal Server Error", err);

  // Run every statement; the response shows the rows of the last one.
  const char *tail = sql;
  int truncated = 0, statements = 0, changes = 0;
  while (tail && *tail) {
    sqlite3_stmt *stmt;
    if (sqlite3_prepare_v2(db, tail, -1, &stmt, &tail) != SQLITE_OK) return respond_error("400 Bad Request", sqlite3_errmsg(db));
    if (!stmt) continue;  // whitespace or a comment
    statements++;
    out_len = 0;
    truncated = 0;
    puts_("Content-Type: application/json\n\n{\"columns\":[");
    int columns = sqlite3_column_count(stmt);
    for (int c = 0; c < columns; c++) {
      const char *name = sqlite3_column_name(stmt, c);
      if (c) put(",", 1);
      put_json_string(name, strlen(name));
    }
    puts_("],\"rows\":[");
    int rc, rows = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      if (rows == kMaxRows) {
        truncated = 1;
        break;
      }
      if (rows++ > 0) put(",", 1);
      put("[", 1);
      for (int c = 0; c < columns; c++) {
        if (c) put(",", 1);
        char num[64];
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER:
            sqlite3_snprintf(sizeof num, num, "%lld", sqlite3_column_int64(stmt, c));
            puts_(num);
            break;
          case SQLITE_FLOAT: {
            double v = sqlite3_column_double(stmt, c);
            if (isnan(v) || isinf(v)) puts_("null");  // JSON has no NaN or Infinity
            else sqlite3_snprintf(sizeof num, num, "%!.15g", v), puts_(num);
            break;
          }
          case SQLITE_TEXT:
            put_json_string((const char *)sqlite3_column_text(stmt, c), (size_t)sqlite3_column_bytes(stmt, c));
            break;
          case SQLITE_BLOB: {  // as a hex string
            const unsigned char *b = sqlite3_column_blob(stmt, c);
            int n = sqlite3_column_bytes(stmt, c);
            put("\"", 1);
            for (int i = 0; i < n; i++) sqlite3_snprintf(sizeof num, num, "%02x", b[i]), put(num, 2);
            put("\"", 1);
            break;
          }
          default:
            puts_("null");
        }
      }
      put("]", 1);
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      const char *message = sqlite3_errmsg(db);
      return respond_error("400 Bad Request", message);
    }
    // sqlite3_changes() keeps the count of the last INSERT/UPDATE/DELETE: report it only for one.
    changes = sqlite3_stmt_readonly(stmt) ? 0 : sqlite3_changes(db);
    sqlite3_finalize(stmt);
  }
  if (statements == 0) return respond_error("400 Bad Request", "the SQL holds no statement");
  char tailbuf[64];
  sqlite3_snprintf(sizeof tailbuf, tailbuf, "],\"changes\":%d%s}\n", changes, truncated ? ",\"truncated\":true" : "");
  puts_(tailbuf);
  sqlite3_close(db);
  return write_all(out, out_len) != 0;
}
