// A setup script for examples/quickjs-serve.mjs: it runs once, and every request starts from the
// state it leaves. `handle` gets the request as JSON and returns the response as JSON.
const started = 'when the image was made';
let requests = 0; // always 0 when a request starts: nothing a request does is kept

const routes = {
  '/add': (q) => ({ sum: Number(q.a) + Number(q.b) }),
  '/count': () => ({ requests: ++requests, started }),
  '/eval': (q, body) => ({ value: (0, eval)(body) }),
};

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- QuickJS serve calls the global `handle`
function handle(request) {
  console.log(request.method, request.path);
  const route = routes[request.path];
  if (!route) return { status: 404, body: { error: `no route ${request.path}`, routes: Object.keys(routes) } };
  return { status: 200, body: route(request.query, request.body) };
}
