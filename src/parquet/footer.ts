import { parquetMetadata, type FileMetaData } from 'hyparquet'
import { CoderforgeError } from '../errors.js'
import type { ByteSource } from './source.js'

/** Bytes read from the end of a file for its footer: enough for these shards' footers in one request. */
export const footerGuess = 64 * 1024
/** Files up to this size may be read whole with the footer, when a round trip is worth as much. */
const wholeFileLimit = 4 * 1024 * 1024

/** Options for {@link readFooter}. */
export interface FooterOptions {
  /** Bytes of the tail to read first (default {@link footerGuess}). */
  guess?: number
  /** Only the footer will be read (inspect): never read a small file whole. */
  footerOnly?: boolean
}

/**
 * Read a Parquet footer with one read of the file's tail (a second only when the footer is larger
 * than the guess). hyparquet's own default prefetches 512 KB, eight times what a shard needs. A source
 * that holds bytes keeps the tail, so later reads inside it (small column chunks) cost no request.
 * A remote file smaller than what one round trip is worth is read whole (budget permitting): its column
 * chunks would cost another round trip for fewer bytes than that.
 */
export async function readFooter(source: ByteSource, options: FooterOptions = {}): Promise<FileMetaData> {
  const size = source.byteLength
  const guess = options.guess ?? footerGuess
  if (size < 12) throw notParquet(source)
  // whole only while the memory budget has room: the held file stays until the reader releases it
  const whole = !options.footerOnly && size <= wholeFileLimit && size <= (source.roundTripBytes?.() ?? 0) &&
    (source.hold?.([[0, size]], { speculative: true }) ?? false)
  const tailStart = whole ? 0 : Math.max(0, size - guess)
  if (!whole) source.hold?.([[tailStart, size]])
  let tail = await source.slice(tailStart, size)
  const view = new DataView(tail)
  if (view.getUint32(tail.byteLength - 4, true) !== 0x31524150) throw notParquet(source)
  const footerLength = view.getUint32(tail.byteLength - 8, true)
  if (footerLength + 8 > size) throw notParquet(source)
  if (footerLength + 8 > tail.byteLength) tail = await source.slice(size - footerLength - 8, size)
  try {
    return parquetMetadata(tail)
  } catch (error) {
    throw new CoderforgeError(`${source.name}: unreadable Parquet footer (${(error as Error).message})`)
  }
}

function notParquet(source: ByteSource): CoderforgeError {
  return new CoderforgeError(`${source.name} is not a Parquet file (no PAR1 footer)`)
}
