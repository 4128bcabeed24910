// The smallest useful CGI guest: one write() of a complete response, no stdio, no allocation.
// cowpool serve examples/hello.wasm  ->  GET / answers "Hello, world!".
#include <unistd.h>

static const char response[] = "Content-Type: text/plain\n\nHello, world!\n";

int main(void) {
  return write(1, response, sizeof response - 1) == (ssize_t)(sizeof response - 1) ? 0 : 1;
}
