/**
 * Parquet decompressors. ZSTD is libzstd compiled to WASM (`@bokuweb/zstd-wasm`): Node 20's zlib has no
 * zstd, and the pure-JS fzstd that hyparquet-compressors bundles runs at a quarter of its speed. SNAPPY
 * is our WASM kernel (src/wasm/kernels.ts): as fast as hysnappy (1.1-1.2 GB/s on the trajectories' pages),
 * but it decompresses into the decode task's arena, not a copy; the other codecs are hyparquet-compressors'.
 */
import { decompress as zstdDecompress, init as zstdInit } from '@bokuweb/zstd-wasm'
import type { Compressors } from 'hyparquet'
import { compressors as bundledCompressors } from 'hyparquet-compressors'
import { snappyUncompress } from '../wasm/kernels.js'

let ready: Promise<void> | undefined

/**
 * Load the zstd WASM module, once per thread: a second `init()` in the same thread leaves its
 * compressor writing corrupt frames, so everyone (the fixture generator too) goes through here.
 */
export function loadZstd(): Promise<void> {
  return ready ??= zstdInit()
}

/** Decompressors for every Parquet codec; usable once {@link loadZstd} has resolved on this thread. */
export const compressors: Compressors = {
  ...bundledCompressors,
  SNAPPY: snappyUncompress,
  // the page header gives the size: the frame may not carry it, and the WASM default buffer is 1 MB
  ZSTD: (input: Uint8Array, outputLength: number) => zstdDecompress(input, { defaultHeapSize: outputLength }),
}
