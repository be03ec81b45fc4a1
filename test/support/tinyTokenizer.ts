/**
 * A tiny byte-level BPE tokenizer.json (the same kind as Qwen's, with a 256-byte alphabet and a few
 * merges), generated for tests that need a real tokenizer without downloading one.
 */

/** GPT-2's bytes → printable characters map, which byte-level BPE vocabularies are written in. */
function byteAlphabet(): string[] {
  const printable = [...range(33, 126), ...range(161, 172), ...range(174, 255)]
  const chars: string[] = []
  let extra = 0
  for (let byte = 0; byte < 256; byte++) chars.push(String.fromCodePoint(printable.includes(byte) ? byte : 256 + extra++))
  return chars
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start + 1 }, (_, i) => start + i)
}

/** The tokenizer.json object: byte alphabet, merges of a few common pairs, `<|im_start|>`/`<|im_end|>` as added tokens. */
export function tinyTokenizerJson(): object {
  const alphabet = byteAlphabet()
  const vocab: Record<string, number> = {}
  alphabet.forEach((char, i) => { vocab[char] = i })
  const space = alphabet[32]!
  const pairs = [['t', 'h'], ['th', 'e'], [space, 'the'], ['i', 'n'], ['e', 'r'], ['o', 'n'], [space, 't'], ['r', 'e'], ['a', 't'], ['e', 'n']]
  const merges: string[] = []
  for (const [a, b] of pairs) {
    vocab[a! + b!] = Object.keys(vocab).length
    merges.push(`${a} ${b}`)
  }
  const next = Object.keys(vocab).length
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: ['<|im_start|>', '<|im_end|>'].map((content, i) => ({ id: next + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges },
  }
}
