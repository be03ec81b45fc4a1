/**
 * Buffers of encoded JSON-line chunks that a sink has written, kept for the encoder to fill again (one
 * set per thread). Left to the garbage collector, every piece's few-MB chunks would pile up as dead
 * memory until a collection (V8 waits for tens of MB of it) and fragment the allocator's heap; reused,
 * the chunks in flight are all the encoding memory there is. The main thread hands its spares to the
 * decoding threads with their next tasks (see query/decodePool.ts).
 */

/** Spares kept per thread: about the chunks of the pieces one thread has in flight. */
const maxSpares = 4
const spares: ArrayBuffer[] = []

/** A spare buffer of at least `bytes`, removed from the spares; undefined when there is none. */
export function takeSpare(bytes: number): ArrayBuffer | undefined {
  const index = spares.findIndex((buffer) => buffer.byteLength >= bytes)
  return index === -1 ? undefined : spares.splice(index, 1)[0]
}

/** Keep buffers whose bytes are no longer needed (written, or received from another thread) as spares. */
export function giveSpares(buffers: Iterable<ArrayBuffer>): void {
  for (const buffer of buffers) {
    // a detached buffer (moved to another thread) has no bytes left to reuse
    if (spares.length < maxSpares && buffer.byteLength > 0 && !spares.includes(buffer)) spares.push(buffer)
  }
}

/** Remove and return every spare, to move them to another thread. */
export function takeAllSpares(): ArrayBuffer[] {
  return spares.splice(0)
}
