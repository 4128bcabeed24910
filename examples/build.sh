#!/usr/bin/env bash
# Rebuilds every C guest of cowpool: the examples in examples/ and the test guests in test/fixtures/.
# The built .wasm files are committed (CI has no clang), so run this only after changing a .c file
# and commit the .wasm it produces.
#
# Needs (Debian 12 / Ubuntu):
#   apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32
# and npm (to fetch the SQLite amalgamation for sqlite.wasm). wabt (wasm2wat) is handy to inspect
# the output but not needed.
#
# SQLite: the public-domain amalgamation (sqlite3.c/sqlite3.h) comes from the npm package
# better-sqlite3, fetched with `npm pack` into a temporary directory and never committed. Set
# SQLITE_AMALGAMATION_DIR to a directory holding sqlite3.c and sqlite3.h to skip the download.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
fixtures="$root/test/fixtures"

CC="${CC:-clang}"
SYSROOT="${WASI_SYSROOT:-/usr}"
BETTER_SQLITE3_VERSION="12.11.1" # ships SQLite 3.53.2 in deps/sqlite3/

if ! command -v "$CC" >/dev/null; then
  echo "build.sh: $CC not found; install: apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32" >&2
  exit 1
fi

# --strip-all drops the name section and other custom sections: smaller files, same code.
cflags=(--target=wasm32-wasi "--sysroot=$SYSROOT" -Wall -Wextra -Wl,--strip-all)

build() { # build <output.wasm> <optimization> <sources...> [extra flags...]
  local output="$1" opt="$2"
  shift 2
  "$CC" "${cflags[@]}" "$opt" -o "$output" "$@"
  printf '%-40s %8d bytes\n' "${output#"$root"/}" "$(stat -c %s "$output")"
}

# --- examples -----------------------------------------------------------------------------------
build "$here/hello.wasm" -Os "$here/hello.c"
build "$here/echo-json.wasm" -O2 "$here/echo-json.c"
build "$here/scratch.wasm" -Os "$here/scratch.c"
build "$here/lines.wasm" -Os "$here/lines.c"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
amalgamation="${SQLITE_AMALGAMATION_DIR:-}"
if [ -z "$amalgamation" ]; then
  echo "fetching SQLite amalgamation: npm pack better-sqlite3@$BETTER_SQLITE3_VERSION"
  tarball="$(cd "$tmp" && npm pack --silent "better-sqlite3@$BETTER_SQLITE3_VERSION" | tail -n 1)"
  tar -xzf "$tmp/$tarball" -C "$tmp" package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h
  amalgamation="$tmp/package/deps/sqlite3"
fi
# SQLITE_OS_OTHER: no built-in VFS; sqlite.c registers a memory-only one (wasi-libc lacks the POSIX
# locking the unix VFS needs). TEMP_STORE=3 keeps temp tables in memory, so no file is ever opened.
# The rest are SQLite's recommended options for a smaller, faster library without threads.
sqlite_flags=(
  -DSQLITE_OS_OTHER=1 -DSQLITE_TEMP_STORE=3 -DSQLITE_THREADSAFE=0
  -DSQLITE_OMIT_LOAD_EXTENSION -DSQLITE_OMIT_WAL -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_OMIT_DEPRECATED
  -DSQLITE_OMIT_PROGRESS_CALLBACK -DSQLITE_OMIT_DECLTYPE -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_DQS=0
  -DSQLITE_MAX_EXPR_DEPTH=0 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_USE_ALLOCA
  -DSQLITE_ENABLE_MEMSYS5 # sqlite.c gives SQLite a static heap (see there)
)
"$CC" --target=wasm32-wasi "--sysroot=$SYSROOT" -Os -w "${sqlite_flags[@]}" -c "$amalgamation/sqlite3.c" -o "$tmp/sqlite3.o"
build "$here/sqlite.wasm" -Os "$here/sqlite.c" "$tmp/sqlite3.o" -I "$amalgamation" "${sqlite_flags[@]}" -lm

# --- test guests --------------------------------------------------------------------------------
for name in wasi-probe loop sleep trap secret env badcgi exit grow unlink-open flood spin; do
  build "$fixtures/$name.wasm" -O2 "$fixtures/$name.c"
done
