;; examples/counter.wasm, for examples/pool.mjs. Rebuild: wat2wasm examples/counter.wat -o examples/counter.wasm
(module (memory (export "memory") 1)
  (func (export "bump") (result i32)
    (i32.store (i32.const 1024) (i32.add (i32.load (i32.const 1024)) (i32.const 1)))
    (i32.load (i32.const 1024))))
