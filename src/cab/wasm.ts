/**
 * Instances of the cabinet code's WebAssembly halves (src/cab/lzx-symbols.c, src/cab/checksum.c,
 * src/cab/cffile.c, built by scripts/build-wasm.mjs into base64 constants). Each module is compiled
 * once per process; each caller gets its own instance and lays out its data after the module's
 * stack (__heap_base).
 */

// Node's type definitions leave WebAssembly to the DOM library; this much is used.
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
/** What every module exports besides its functions. */
export interface WasmExports {
  memory: WasmMemory;
  __heap_base: { value: number };
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
} | undefined;

const WASM_PAGE = 65536;
const compiled = new Map<string, object>();

/** An instance and where its areas start (`addrs[i]` for area i). */
export interface WasmInstance<E> {
  exports: E & WasmExports;
  addrs: number[];
}

/** Why there is no instance: the end of a sentence that starts "… needs WebAssembly, ". */
export interface WasmUnavailable {
  unavailable: string;
}

/**
 * A new instance of the module in `base64` with areas of the given sizes laid out after its
 * stack, or why there is none: the process has no WebAssembly (node --jitless), or cannot have
 * the memory (V8 reserves gigabytes of address space for each instance's memory, which a limit
 * such as `ulimit -v` refuses). Callers with a JavaScript path take it then.
 */
export function instantiateWasm<E>(base64: string, sizes: readonly number[]): WasmInstance<E> | WasmUnavailable {
  if (typeof WebAssembly === 'undefined') return { unavailable: 'which this Node.js process lacks (was it started with --jitless?)' };
  try {
    let mod = compiled.get(base64);
    if (!mod) compiled.set(base64, (mod = new WebAssembly.Module(Buffer.from(base64, 'base64'))));
    const exports = new WebAssembly.Instance(mod, {}).exports as E & WasmExports;
    return { exports, addrs: layOutWasm(exports, sizes) };
  } catch (err) {
    // V8 throws RangeError when it cannot reserve or grow the memory
    if (!(err instanceof RangeError)) throw err;
    return { unavailable: `but this process cannot allocate its memory (is its address space limited, as by ulimit -v?): ${err.message}` };
  }
}

/**
 * Lays out areas of the given sizes after __heap_base, 64-byte aligned, and grows the memory once
 * to hold them (growing detaches views of the old buffer, so views are made after this). Returns
 * each area's address.
 */
function layOutWasm(exports: WasmExports, sizes: readonly number[]): number[] {
  let at = (exports.__heap_base.value + 63) & ~63;
  const addrs = sizes.map((bytes) => {
    const p = at;
    at = (at + bytes + 63) & ~63;
    return p;
  });
  const pages = Math.ceil(at / WASM_PAGE) - exports.memory.buffer.byteLength / WASM_PAGE;
  if (pages > 0) exports.memory.grow(pages);
  return addrs;
}
