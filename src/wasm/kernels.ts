/**
 * The WASM kernels (src/wasm/kernels.as.ts) on this thread: snappy decompression, JSON string escaping
 * and skipping.
 *
 * While a decode task holds the arena ({@link openArena}), snappy pages are decompressed into it and
 * handed out as views of its memory: nothing is copied out and nothing new is allocated per page, so the
 * task's bytes are escaped where they were decompressed, and the memory is used again by the next task
 * instead of left to the collector (V8 frees dead buffers of a thread only after tens of MB of them).
 * The arena grows only between tasks, since growing a WASM memory detaches every view of it. Outside a
 * task, or when a page does not fit, a second instance decompresses and the page is copied out.
 */
import { kernelsWasm } from './kernelsWasm.js'

// lib ES2023 has no WebAssembly types (they come with the DOM's): the little used here
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object
  Instance: new (module: object, imports: object) => { exports: object }
}

interface KernelExports {
  memory: { buffer: ArrayBuffer, grow(pages: number): number }
  heapStart(): number
  escapeJson(src: number, srcEnd: number, dst: number, dstEnd: number): number
  snappyUncompress(src: number, srcEnd: number, dst: number, dstEnd: number): number
  jsonStringEnd(src: number, srcEnd: number): number
  lastStringUnits(): number
}

/** One instance: its exports and a view of its memory, renewed when the memory grows. */
interface Kernel {
  exports: KernelExports
  bytes: Uint8Array
}

let module: object | undefined

function instantiate(): Kernel {
  module ??= new WebAssembly.Module(Buffer.from(kernelsWasm, 'base64'))
  const exports = new WebAssembly.Instance(module, {}).exports as unknown as KernelExports
  return { exports, bytes: new Uint8Array(exports.memory.buffer) }
}

/** Grow `kernel`'s memory to at least `size` bytes. Every earlier view of it is detached. */
function growTo(kernel: Kernel, size: number): void {
  const { memory } = kernel.exports
  const missing = Math.ceil((size - memory.buffer.byteLength) / 65536)
  if (missing > 0) memory.grow(missing)
  kernel.bytes = new Uint8Array(memory.buffer)
}

// escaping goes block by block through two fixed areas at the bottom of the arena's memory, so that
// text from outside (a JS buffer) needs no room in the arena; a block's output has room for its worst case
const escapeBlock = 64 * 1024
const escapeOutputRoom = escapeBlock * 6 + 32

interface Arena {
  kernel: Kernel
  /** Start of the escape input area, of the output area, and of the arena itself. */
  escapeInput: number
  escapeOutput: number
  base: number
  /** Next free address while a task holds the arena. */
  next: number
  open: boolean
  /** The most a task has needed (what did not fit included): the arena's size at the next opening. */
  needed: number
}

let arenaState: Arena | undefined
let spillKernel: Kernel | undefined

function arena(): Arena {
  if (arenaState) return arenaState
  const kernel = instantiate()
  const escapeInput = kernel.exports.heapStart()
  const escapeOutput = escapeInput + escapeBlock
  const base = escapeOutput + escapeOutputRoom
  growTo(kernel, base)
  return arenaState = { kernel, escapeInput, escapeOutput, base, next: base, open: false, needed: 0 }
}

/**
 * Give the arena to the task about to run on this thread, sized for `expectedBytes` of decompressed
 * pages (and for the most an earlier task needed). Until {@link closeArena}, snappy pages are views
 * of the arena: the caller must not keep any of them, or anything that views them, past that call.
 */
export function openArena(expectedBytes: number): void {
  const state = arena()
  if (state.open) throw new Error('the decoding arena is held already')
  growTo(state.kernel, state.base + Math.max(expectedBytes, state.needed))
  state.next = state.base
  state.needed = 0
  state.open = true
}

/**
 * `bytes` of the arena (16-byte aligned, not zeroed) while a task holds it and they fit, for the task's
 * own scratch (decoded values it does not return); undefined otherwise, for the caller to allocate.
 */
export function arenaBytes(bytes: number): Uint8Array | undefined {
  const state = arenaState
  if (!state?.open) return undefined
  const start = (state.next + 15) & ~15
  state.needed = Math.max(state.needed, start + bytes - state.base)
  if (start + bytes > state.kernel.bytes.length) return undefined
  state.next = start + bytes
  return state.kernel.bytes.subarray(start, start + bytes)
}

/** `view` lies in the arena's memory. */
export function inArena(view: ArrayBufferView): boolean {
  return !!arenaState && view.buffer === arenaState.kernel.bytes.buffer
}

/** End the task's hold on the arena: its views may now be overwritten by the next task's pages. */
export function closeArena(): void {
  if (arenaState) arenaState.open = false
}

/** Decompress a raw snappy block of `outputLength` bytes (hyparquet's decompressor signature). */
export function snappyUncompress(input: Uint8Array, outputLength: number): Uint8Array {
  const state = arenaState
  if (state?.open) {
    // 16-byte aligned; the room includes the input, copied in just above the output
    const start = (state.next + 15) & ~15
    const end = start + outputLength + input.length
    state.needed = Math.max(state.needed, end - state.base)
    if (end <= state.kernel.bytes.length) {
      uncompressIn(state.kernel, input, start, outputLength)
      state.next = start + outputLength
      return state.kernel.bytes.subarray(start, start + outputLength)
    }
  }
  const kernel = spillKernel ??= instantiate()
  const start = kernel.exports.heapStart()
  growTo(kernel, start + outputLength + input.length)
  uncompressIn(kernel, input, start, outputLength)
  return kernel.bytes.slice(start, start + outputLength)
}

function uncompressIn(kernel: Kernel, input: Uint8Array, start: number, outputLength: number): void {
  const inputStart = start + outputLength
  kernel.bytes.set(input, inputStart)
  const failure = kernel.exports.snappyUncompress(inputStart, inputStart + input.length, start, start + outputLength)
  // a plain Error: the reader names the file, row group and column it came from (see parquet/rows.ts)
  if (failure !== 0) throw new Error(`corrupt snappy page: ${['', 'its length is not the page header\'s', 'it ends too soon', 'it copies from before its start'][failure]}`)
}

/**
 * Escape UTF-8 `text` as the inside of a JSON string into `out` at `offset` (no quotes), as
 * JSON.stringify would; `out` must have room for 6 bytes per input byte. Returns the end of the output.
 * Text in the arena is escaped where it is; other text is copied in block by block.
 */
export function escapeJsonInto(out: Uint8Array, offset: number, text: Uint8Array): number {
  const { kernel, escapeInput, escapeOutput } = arena()
  const here = inArena(text)
  for (let i = 0; i < text.length; i += escapeBlock) {
    const block = text.subarray(i, i + escapeBlock)
    let src = text.byteOffset + i
    if (!here) {
      kernel.bytes.set(block, escapeInput)
      src = escapeInput
    }
    const end = kernel.exports.escapeJson(src, src + block.length, escapeOutput, escapeOutput + escapeOutputRoom)
    out.set(kernel.bytes.subarray(escapeOutput, end), offset)
    offset += end - escapeOutput
  }
  return offset
}

/**
 * `bytes` where the kernels can read them: itself when it lies in the arena, else a copy in the spill
 * memory, which the next call that spills (here or in {@link snappyUncompress}) overwrites.
 */
export function inKernelMemory(bytes: Uint8Array): Uint8Array {
  if (inArena(bytes)) return bytes
  const kernel = spillKernel ??= instantiate()
  const start = kernel.exports.heapStart()
  growTo(kernel, start + bytes.length)
  kernel.bytes.set(bytes, start)
  return kernel.bytes.subarray(start, start + bytes.length)
}

/**
 * Skip the JSON string whose contents start at `start` in `bytes` (valid UTF-8, from {@link inKernelMemory}):
 * where it ends (after its closing quote) and the UTF-16 units of its value; undefined when it is not a
 * valid JSON string.
 */
export function skipJsonString(bytes: Uint8Array, start: number): { end: number, units: number } | undefined {
  const kernel = inArena(bytes) ? arenaState!.kernel : spillKernel
  if (!kernel || bytes.buffer !== kernel.bytes.buffer) throw new Error('skipJsonString: the bytes are not in a kernel\'s memory')
  const end = kernel.exports.jsonStringEnd(bytes.byteOffset + start, bytes.byteOffset + bytes.length)
  return end === 0 ? undefined : { end: end - bytes.byteOffset, units: kernel.exports.lastStringUnits() }
}
