// Assembles WebAssembly text for tests: the module layer's helper, with every proposal on.
export { wat } from './wasm.ts';
