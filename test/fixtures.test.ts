import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { parquetMetadataAsync, type FileMetaData } from 'hyparquet'
import { parquetHeader } from 'hyparquet/src/column.js'
import { configs, ensureFixtures, generateDataset, layouts, profiles, readManifest, repoDir, splitNames, type Manifest, type Profile } from '../fixtures/index.js'
import { duck, sqlString } from './support/duckdb.js'

const repo = repoDir('tiny')
let manifest: Manifest
const sourceSplits = ['SWE_Rebench', 'SWE_Smith', 'R2E_Gym'] as const
const glob = (config: string, split: string) => sqlString(join(repo, config, `${split}-*.parquet`))
const taskOf = (id: string) => id.replace(/(_incomplete_\d{8}_\d{6})?_run\d+$/, '')
const byCodeUnits = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
// rows of a split in shard order, then row order
const splitRows = (config: string, split: string, columns = '*') =>
  duck(`SELECT ${columns} FROM read_parquet(${glob(config, split)}, filename = true, file_row_number = true) ORDER BY filename, file_row_number`)

before(async () => {
  manifest = await ensureFixtures('tiny')
})


/** The kinds of page in a file's column chunks. */
async function pageTypes(path: string, metadata: FileMetaData): Promise<string[]> {
  const bytes = await readFile(path)
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const types = new Set<string>()
  for (const chunk of metadata.row_groups.flatMap((group) => group.columns)) {
    const start = Number(chunk.meta_data!.dictionary_page_offset || chunk.meta_data!.data_page_offset)
    for (let position = start; position < start + Number(chunk.meta_data!.total_compressed_size);) {
      const reader = { view, offset: position }
      const header = parquetHeader(reader)
      types.add(header.type)
      position = reader.offset + header.compressed_page_size
    }
  }
  return [...types]
}
describe('fixture repository', () => {
  test('the manifest lists exactly the Parquet files of the repository, with their sizes and hashes', async () => {
    const onDisk = (await readdir(repo, { recursive: true })).filter((path) => path.endsWith('.parquet')).sort()
    assert.deepEqual(manifest.files.map((file) => file.path).sort(), onDisk)
    assert.equal(manifest.files.length, 2 * 4 * 3)
    for (const file of manifest.files) {
      const bytes = await readFile(join(repo, file.path))
      assert.equal(bytes.length, file.size)
      assert.equal(createHash('sha256').update(bytes).digest('hex'), file.sha256)
      assert.equal(file.path, `${file.config}/${file.split}-${String(file.shard).padStart(5, '0')}-of-00003.parquet`)
    }
    assert.deepEqual((await readdir(repo)).sort(), ['.gitattributes', 'README.md', ...Object.values(configs)].sort())
  })

  test('pages are V1 where a layout asks (pyarrow\'s default, as the published shards), else hyparquet-writer\'s V2', async () => {
    for (const file of manifest.files) {
      const path = join(repo, file.path)
      const types = await pageTypes(path, await parquetMetadataAsync(await fileBuffer(path)))
      const version = layouts[file.split].v1Pages ? 'DATA_PAGE' : 'DATA_PAGE_V2'
      assert.deepEqual(types.filter((type) => type !== 'DICTIONARY_PAGE'), [version], file.path)
    }
    assert.ok(manifest.files.some((file) => layouts[file.split].v1Pages) && manifest.files.some((file) => !layouts[file.split].v1Pages))
  })

  test('the card maps every split of both configs to its files, and .gitattributes stores Parquet in LFS', async () => {
    const card = await readFile(join(repo, 'README.md'), 'utf8')
    const frontMatter = card.split('---\n')[1]!
    for (const config of Object.values(configs)) {
      assert.match(frontMatter, new RegExp(`- config_name: ${config}\\n  data_files:\\n`))
      for (const split of splitNames) assert.ok(frontMatter.includes(`  - split: ${split}\n    path: ${config}/${split}-*\n`), `${config}/${split}`)
    }
    assert.match(frontMatter, /dataset_info:\n- config_name: trajectories\n  features:\n  - name: trajectory_id\n    dtype: string\n/)
    assert.match(frontMatter, / {2}- name: input_ids\n {4}list: int32\n {2}- name: labels\n {4}list: int64\n/)
    assert.match(card, /\n# CoderForge-Preview/)
    assert.match(await readFile(join(repo, '.gitattributes'), 'utf8'), /^\*\.parquet filter=lfs diff=lfs merge=lfs -text$/m)
  })

  test('column names and types are those of the real configs', async () => {
    const expected = {
      [configs.trajectories]: [['trajectory_id', 'VARCHAR'], ['finish_reason', 'VARCHAR'], ['image', 'VARCHAR'], ['messages', 'VARCHAR'], ['reward', 'DOUBLE'], ['tools', 'VARCHAR'], ['license', 'VARCHAR']],
      [configs.tokenized]: [['trajectory_id', 'VARCHAR'], ['reward', 'DOUBLE'], ['chat_template_applied', 'VARCHAR'], ['input_ids', 'INTEGER[]'], ['labels', 'BIGINT[]']],
    }
    for (const file of manifest.files) {
      const columns = await duck(`DESCRIBE SELECT * FROM read_parquet(${sqlString(join(repo, file.path))})`)
      assert.deepEqual(columns.map((column) => [column.column_name, column.column_type]), expected[file.config], file.path)
    }
    const [schema] = await duck(`SELECT list(repetition_type ORDER BY name) AS repetitions, list(name ORDER BY name) FILTER (WHERE num_children IS NULL) AS leaves
      FROM parquet_schema(${sqlString(join(repo, configs.tokenized, 'SWE_Rebench-00000-of-00003.parquet'))}) WHERE name <> 'schema'`)
    assert.deepEqual(schema!.leaves, ['chat_template_applied', 'element', 'element', 'reward', 'trajectory_id'])
    assert.ok((schema!.repetitions as string[]).every((repetition) => repetition === 'OPTIONAL' || repetition === 'REPEATED'))
  })

  test('row counts per shard match the manifest and the contiguous sharding rule', async () => {
    for (const config of Object.values(configs)) {
      for (const split of splitNames) {
        const counts = await duck(`SELECT parse_filename(filename) AS file, count(*) AS rows FROM read_parquet(${glob(config, split)}, filename = true) GROUP BY ALL ORDER BY file`)
        const shards = manifest.files.filter((file) => file.config === config && file.split === split).sort((a, b) => a.shard - b.shard)
        assert.deepEqual(counts.map((row) => Number(row.rows)), shards.map((file) => file.rows), `${config}/${split}`)
        const total = shards.reduce((sum, file) => sum + file.rows, 0)
        assert.deepEqual(shards.map((file) => file.rows), [0, 1, 2].map((i) => Math.floor(total / 3) + (i < total % 3 ? 1 : 0)))
      }
    }
    const rows = Object.fromEntries(splitNames.map((split) => [split, manifest.files.filter((file) => file.config === configs.trajectories && file.split === split).reduce((sum, file) => sum + file.rows, 0)]))
    assert.deepEqual([rows.SWE_Rebench, rows.SWE_Smith, rows.R2E_Gym], [24, 24, 16])
  })

  test('row groups, codecs, page index and key-value metadata follow each split\'s layout', async () => {
    for (const file of manifest.files) {
      const path = join(repo, file.path)
      const layout = layouts[file.split]
      const groups = await duck(`SELECT row_group_id, list(DISTINCT compression) AS codecs FROM parquet_metadata(${sqlString(path)}) GROUP BY ALL ORDER BY row_group_id`)
      assert.equal(groups.length, file.rowGroups, file.path)
      assert.equal(file.rowGroups, Math.min(layout.rowGroups, file.rows), file.path)
      assert.ok(groups.every((group) => JSON.stringify(group.codecs) === JSON.stringify([layout.codec])), file.path)
      assert.equal(file.codec, layout.codec)

      const metadata = await parquetMetadataAsync(await fileBuffer(path))
      const offsetIndexed = metadata.row_groups.flatMap((group) => group.columns).filter((chunk) => chunk.offset_index_offset !== undefined)
      if (layout.pageIndex) assert.ok(offsetIndexed.some((chunk) => chunk.meta_data?.path_in_schema[0] === (file.config === configs.trajectories ? 'messages' : 'chat_template_applied')), file.path)
      else assert.equal(offsetIndexed.length, 0, file.path)

      const kv = Object.fromEntries(metadata.key_value_metadata!.map(({ key, value }) => [key, value]))
      const features = JSON.parse(kv.huggingface!).info.features
      assert.deepEqual(Object.keys(features), metadata.schema.slice(1).filter((element) => element.name !== 'list' && element.name !== 'element').map((element) => element.name))
      assert.equal('content_defined_chunking' in kv, layout.pageIndex, file.path)
    }
    const [stats] = await duck(`SELECT count(*) FILTER (WHERE stats_min_value IS NULL) AS missing FROM parquet_metadata(${glob(configs.trajectories, '*')})
      WHERE path_in_schema IN ('trajectory_id', 'reward', 'license')`)
    assert.equal(Number(stats!.missing), 0)
  })
})

describe('fixture rows', () => {
  test('ids, images and runs follow each source\'s format; rows are sorted and a task\'s runs are contiguous', async () => {
    const formats = {
      SWE_Rebench: { id: /^[\w.-]+__[\w.-]+-\d+$/, image: /^qingyangwu\/sweb\.eval\.x86_64\.[a-z0-9_.-]+_1776_[a-z0-9_.-]+-\d+$/, runs: 8 },
      SWE_Smith: { id: /^[\w-]+__[\w-]+_[0-9a-f]{8}_(pr_\d+|[a-z_]+__[0-9a-f]{8})$/, image: /^(qingyangwu\/swesmith\.x86_64\.[a-z0-9_-]+_1776_[a-z0-9_-]+\.[0-9a-f]{8}|[\w-]+__[\w-]+\.[0-9a-f]{8}\.[a-z_]+__[0-9a-f]{8})$/, runs: 4 },
      R2E_Gym: { id: /^qingyangwu_[a-z]+_final_[0-9a-f]{40}$/, image: /^qingyangwu\/[a-z]+_final:[0-9a-f]{40}$/, runs: 8 },
    }
    for (const split of sourceSplits) {
      const rows = await splitRows(configs.trajectories, split, 'trajectory_id, image')
      const ids = rows.map((row) => String(row.trajectory_id))
      assert.deepEqual(ids, [...ids].sort(byCodeUnits), `${split} is sorted`)
      assert.equal(new Set(ids).size, ids.length)
      assert.ok(ids.some((id) => /_incomplete_2025\d{4}_\d{6}_run\d$/.test(id)), `${split} has an incomplete run`)
      const tasks: string[] = []
      for (const row of rows) {
        const id = String(row.trajectory_id)
        assert.match(taskOf(id), formats[split].id)
        assert.match(String(row.image), formats[split].image)
        assert.ok(id.length >= 18 && id.length <= 120, id)
        if (tasks.at(-1) !== taskOf(id)) {
          assert.ok(!tasks.includes(taskOf(id)), `${taskOf(id)} runs are contiguous`)
          tasks.push(taskOf(id))
        }
      }
      for (const task of tasks) {
        const runs = ids.filter((id) => taskOf(id) === task).map((id) => Number(/_run(\d+)$/.exec(id)![1])).sort()
        assert.deepEqual(runs, Array.from({ length: formats[split].runs }, (_, i) => i + 1), task)
      }
    }
  })

  test('rewards, finish reasons, tools and licenses have the real value sets', async () => {
    const rows = await duck(`SELECT split_part(parse_filename(filename), '-', 1) AS split, reward, finish_reason, tools, license
      FROM read_parquet(${glob(configs.trajectories, '*')}, filename = true)`)
    for (const split of splitNames) {
      const ofSplit = rows.filter((row) => row.split === split)
      const rewards = new Set(ofSplit.map((row) => row.reward))
      if (split === 'filtered_reward1') assert.deepEqual([...rewards], [1])
      else {
        assert.deepEqual([...rewards].sort(), [-1, 0, 1])
        const share = ofSplit.filter((row) => row.reward === 1).length / ofSplit.length
        assert.ok(share > 0.25 && share < 0.9, `${split}: ${share} of rewards are 1`)
      }
      const tools = new Set(ofSplit.map((row) => row.tools))
      assert.equal(tools.size, 1, `${split} has one tools value`)
      const parsed = JSON.parse([...tools][0] as string) as { function: { name: string } }[]
      assert.deepEqual(parsed.map((tool) => tool.function.name), ['execute_bash', 'finish', 'str_replace_editor', 'think'])
      assert.equal([...tools][0], pythonDumps(parsed))
    }
    const sources = rows.filter((row) => row.split !== 'filtered_reward1')
    assert.deepEqual(sources.filter((row) => row.finish_reason !== 'tool_calls').map((row) => row.finish_reason), ['stop'])
    const spdx = new Set(['MIT', 'Apache-2.0', 'BSD-3-Clause', 'BSD-2-Clause', 'BSD', 'HPND', 'ISC', 'PSF-2.0', 'MIT AND Apache-2.0'])
    assert.ok(rows.every((row) => spdx.has(String(row.license))))
    assert.ok(new Set(rows.map((row) => row.license)).size >= 3)
  })

  test('every messages value is an OpenHands conversation with the described shape', async () => {
    const rows = await duck(`SELECT split_part(parse_filename(filename), '-', 1) AS split, messages FROM read_parquet(${glob(configs.trajectories, '*')}, filename = true)`)
    let parallel = 0
    for (const row of rows) {
      const text = String(row.messages)
      const messages = JSON.parse(text) as Record<string, any>[]
      assert.ok(Array.isArray(messages))
      assert.deepEqual(messages.slice(0, 2).map((message) => message.role), ['system', 'user'])
      assert.ok(messages[0]!.content.length > 5000)
      assert.match(messages[1]!.content, /^<uploaded_files>\n\/testbed\n<\/uploaded_files>[\s\S]*<issue_description>\n[\s\S]*\r\n[\s\S]*<\/issue_description>/)
      assert.match(messages[1]!.content, /[\u3040-\u30ff\u4e00-\u9fff\uac00-\ud7af]/)
      assert.match(messages[1]!.content, /\p{Extended_Pictographic}/u)
      const calls = new Map<string, string>()
      for (const message of messages) {
        assert.deepEqual(Object.keys(message), ['content', 'function_call', 'name', 'role', 'tool_call_id', 'tool_calls'])
        assert.equal(message.function_call, null)
        if (message.role === 'assistant') {
          assert.equal(message.tool_call_id, null)
          for (const call of message.tool_calls ?? []) {
            assert.deepEqual(Object.keys(call), ['function', 'id', 'index', 'type'])
            assert.match(call.id, /^call_[0-9a-f]{24}$/)
            assert.equal(typeof call.function.arguments, 'object')
            assert.deepEqual(Object.keys(call.function.arguments), Object.keys(call.function.arguments).sort())
            calls.set(call.id, call.function.name)
          }
          if (message.tool_calls?.length === 2) parallel++
        } else if (message.role === 'tool') {
          assert.equal(calls.get(message.tool_call_id), message.name, 'a tool message answers an earlier call')
          if (message.name === 'execute_bash') assert.match(message.content, /\n\[Command finished with exit code \d+\]$/)
        }
      }
      if (row.split === 'SWE_Smith') assert.ok(text.startsWith('[{"content":"'), 'compact separators')
      if (row.split === 'SWE_Rebench' || row.split === 'R2E_Gym') assert.ok(text.startsWith('[{"content": "') && /^[\x00-\x7f]*$/.test(text), 'json.dumps defaults')
    }
    assert.ok(parallel > 0)
    const sources = rows.filter((row) => row.split !== 'filtered_reward1')
    const finished = sources.filter((row) => JSON.parse(String(row.messages)).at(-1).tool_calls?.[0]?.function.name === 'finish').length
    assert.ok(finished / sources.length >= 0.85 && finished / sources.length <= 0.95, `${finished} of ${sources.length} rows end with finish`)
    const sizes = rows.map((row) => Buffer.byteLength(String(row.messages))).sort((a, b) => a - b)
    assert.ok(sizes.at(-1)! > 1_000_000, 'one messages value is over 1 MB')
    assert.ok(sizes[Math.floor(sizes.length / 2)]! < 30_000)
  })

  test('filtered_reward1 holds exactly the reward = 1 rows of the three source splits, in both configs', async () => {
    for (const config of Object.values(configs)) {
      const sources = sourceSplits.map((split) => `SELECT * FROM read_parquet(${glob(config, split)}) WHERE reward = 1`).join(' UNION ALL ')
      const filtered = `SELECT * FROM read_parquet(${glob(config, 'filtered_reward1')})`
      const [counts] = await duck(`SELECT (SELECT count(*) FROM (${sources})) AS sources, (SELECT count(*) FROM (${filtered})) AS filtered,
        (SELECT count(*) FROM ((${sources}) EXCEPT ALL (${filtered}))) AS missing, (SELECT count(*) FROM ((${filtered}) EXCEPT ALL (${sources}))) AS extra`)
      assert.deepEqual(counts, { sources: counts!.filtered, filtered: counts!.filtered, missing: '0', extra: '0' }, config)
      assert.ok(Number(counts!.filtered) > 0)
    }
    const ids = (await splitRows(configs.trajectories, 'filtered_reward1', 'trajectory_id')).map((row) => String(row.trajectory_id))
    assert.deepEqual(ids, [...ids].sort(byCodeUnits))
  })

  test('tokenized rows align with trajectories and carry Qwen-shaped ids and assistant-only labels', async () => {
    let allMasked = 0
    for (const split of splitNames) {
      const trajectories = await splitRows(configs.trajectories, split, 'trajectory_id, reward, parse_filename(filename) AS file')
      const tokenized = await splitRows(configs.tokenized, split, 'trajectory_id, reward, parse_filename(filename) AS file, chat_template_applied, input_ids, labels')
      assert.deepEqual(tokenized.map(({ trajectory_id, reward, file }) => ({ trajectory_id, reward, file })), trajectories, split)
      for (const row of tokenized) {
        const ids = (row.input_ids as number[]).map(Number)
        const labels = (row.labels as string[]).map(Number)
        assert.deepEqual(ids.slice(0, 3), [151644, 8948, 198])
        assert.deepEqual(ids.slice(-2), [151645, 198])
        assert.ok(ids.length >= 200 && ids.length <= 5_000, `${ids.length} tokens`)
        assert.ok(ids.every((id) => Number.isInteger(id) && id >= 0 && id <= 151668))
        assert.equal(labels.length, ids.length)
        assert.ok(labels.every((label, i) => label === -100 || label === ids[i]))
        // every turn starts with <|im_start|> right after the previous turn's <|im_end|>\n
        const starts = ids.flatMap((id, i) => (id === 151644 ? [i] : []))
        assert.deepEqual(starts.slice(1).map((i) => ids.slice(i - 2, i)), starts.slice(1).map(() => [151645, 198]))
        // labels copy exactly the assistant turns: body and <|im_end|>, not the role header
        const supervised = labels.filter((label) => label !== -100).length
        const assistant = starts.filter((i) => ids[i + 1] === 77091).reduce((sum, i) => sum + (ids.indexOf(151645, i) - i - 3 + 1), 0)
        if (supervised === 0) allMasked++
        else assert.equal(supervised, assistant)
        const text = String(row.chat_template_applied)
        assert.ok(text.startsWith('<|im_start|>system\nYou are OpenHands agent') && text.includes('# Tools\n\nYou have access to the following functions:\n\n<tools>\n<function>\n<name>execute_bash</name>'))
        assert.equal(text.split('<|im_start|>').length, starts.length + 1)
        assert.match(text, /<\|im_start\|>assistant\n[\s\S]*?<tool_call>\n<function=\w+>\n<parameter=\w+>\n/)
        assert.ok(text.endsWith('<|im_end|>\n'))
      }
    }
    assert.ok(allMasked >= 1, 'one row has every label -100')
  })
})

describe('generator', () => {
  const small: Profile = { ...profiles.tiny!, name: 'small', tasks: { SWE_Rebench: 1, SWE_Smith: 2, R2E_Gym: 1 }, messageBytes: [8_000, 10_000], hugeRow: false }
  const temporary: string[] = []
  const tempOut = async () => {
    const dir = await mkdtemp(join(tmpdir(), 'coderforge-fixtures-'))
    temporary.push(dir)
    return dir
  }
  after(async () => {
    for (const dir of temporary) await rm(dir, { recursive: true, force: true })
  })

  test('the same seed gives byte-identical files; another seed gives other files', async () => {
    const outputs: string[] = []
    const hashes = async (seed: number) => {
      outputs.push(await tempOut())
      return (await generateDataset({ outDir: outputs.at(-1)!, profile: small, seed })).files.map((file) => [file.path, file.sha256])
    }
    const first = await hashes(7)
    assert.deepEqual(await hashes(7), first)
    // a second run in one process still writes readable zstd
    const [read] = await duck(`SELECT count(*) AS rows FROM read_parquet(${sqlString(join(outputs[1]!, 'repo', configs.trajectories, 'R2E_Gym-*.parquet'))})`)
    assert.equal(Number(read!.rows), 8)
    const other = await hashes(8)
    assert.deepEqual(other.map(([path]) => path), first.map(([path]) => path))
    assert.ok(other.every(([, sha], i) => sha !== first[i]![1]))
  })

  test('realistic-tokenized scaled down: the datasets 5.x layout (list leaves UNCOMPRESSED, row groups by bytes per config, page index, zstd twin) and the published 4.0 one', async () => {
    const base = profiles['realistic-tokenized']!
    const rowGroupBytes = 300_000
    const layout = (codec: 'SNAPPY' | 'ZSTD') => ({ ...base.layouts![codec === 'ZSTD' ? 'R2E_Gym' : 'SWE_Smith']!, rowGroupBytes, pageSize: 64 * 1024 })
    const profile: Profile = {
      ...base, name: 'scaled', tasks: { SWE_Rebench: 1, SWE_Smith: 6, R2E_Gym: 2 }, messageBytes: [20_000, 60_000],
      layouts: { SWE_Smith: layout('SNAPPY'), R2E_Gym: layout('ZSTD'), SWE_Rebench: base.layouts!.SWE_Rebench! },
    }
    const out = await tempOut()
    const generated = await generateDataset({ outDir: out, profile })
    assert.deepEqual([...new Set(generated.files.map((file) => file.split))], ['SWE_Rebench', 'SWE_Smith', 'R2E_Gym'], 'only the profile\'s splits')
    for (const file of generated.files) {
      const path = sqlString(join(out, 'repo', file.path))
      const metadata = await parquetMetadataAsync(await fileBuffer(join(out, 'repo', file.path)))
      assert.equal(metadata.row_groups.length, file.rowGroups)
      if (file.split === 'SWE_Rebench') {
        // as the published shards: one row group, snappy everywhere, no page index, V1 pages as pyarrow writes
        assert.equal(file.rowGroups, 1)
        const types = await pageTypes(join(out, 'repo', file.path), metadata)
        assert.ok(types.includes('DATA_PAGE') && !types.includes('DATA_PAGE_V2'), `${file.path}: ${types.join(', ')}`)
        for (const chunk of metadata.row_groups[0]!.columns) {
          assert.equal(chunk.meta_data!.codec, 'SNAPPY', `${file.path} ${chunk.meta_data!.path_in_schema.join('.')}`)
          assert.equal(chunk.offset_index_offset, undefined, `${file.path} ${chunk.meta_data!.path_in_schema.join('.')} has no offset index`)
        }
        continue
      }
      for (const chunk of metadata.row_groups.flatMap((group) => group.columns)) {
        const column = chunk.meta_data!.path_in_schema.join('.')
        assert.equal(chunk.meta_data!.codec, column.endsWith('.list.element') && file.codec === 'SNAPPY' ? 'UNCOMPRESSED' : file.codec, `${file.path} ${column}`)
        // hyparquet-writer indexes chunks of more than one page: the large ones
        const large = column === 'messages' || column === 'chat_template_applied' || column.endsWith('.list.element')
        if (large) assert.notEqual(chunk.offset_index_offset, undefined, `${file.path} ${column} has an offset index`)
        if (column.endsWith('.list.element')) assert.notEqual(chunk.column_index_offset, undefined, `${file.path} ${column} has a column index`)
      }
      // every row group but the last holds at least the threshold (of Arrow bytes; Parquet's uncompressed size is close)
      for (const group of metadata.row_groups.slice(0, -1)) assert.ok(Number(group.total_byte_size) >= rowGroupBytes * 0.8, `${file.path}: a row group of ${group.total_byte_size} B`)
      if (file.config === configs.tokenized && file.split === 'SWE_Smith') assert.ok(file.rowGroups >= 2, `${file.path}: ${file.rowGroups} row groups`)
      const kv = await duck(`SELECT decode(key) AS key FROM parquet_kv_metadata(${path})`)
      assert.ok(kv.some((entry) => entry.key === 'content_defined_chunking'), file.path)
      const [rows] = await duck(`SELECT count(*) AS n FROM read_parquet(${path})`)
      assert.equal(Number(rows!.n), file.rows)
    }
  })

  test('the CLI skips generation when the manifest is up to date, and --force regenerates', async () => {
    const out = await tempOut()
    const cli = fileURLToPath(new URL('../fixtures/cli.ts', import.meta.url))
    const run = async (...args: string[]) => (await promisify(execFile)(process.execPath, ['--import', 'tsx', cli, '--profile', 'tiny', '--out', out, '--seed', '3', ...args])).stdout
    assert.match(await run(), /24 files/)
    const manifestTime = (await stat(join(out, 'manifest.json'))).mtimeMs
    assert.match(await run(), /up to date/)
    assert.equal((await stat(join(out, 'manifest.json'))).mtimeMs, manifestTime)
    assert.equal(await run('--quiet', '--force'), '')
    assert.notEqual((await stat(join(out, 'manifest.json'))).mtimeMs, manifestTime)
    assert.equal(readManifest('tiny', out).seed, 3)
    assert.deepEqual((await readdir(out)).sort(), ['manifest.json', 'repo'])
  })
})

/** A file as hyparquet's AsyncBuffer. */
async function fileBuffer(path: string) {
  const bytes = await readFile(path)
  return { byteLength: bytes.length, slice: (start: number, end?: number) => bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + (end ?? bytes.length)) }
}

/** Python's `json.dumps(value, sort_keys=True)`, to check the `tools` text independently of the generator. */
function pythonDumps(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  if (value === null || typeof value !== 'object') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(pythonDumps).join(', ')}]`
  return `{${Object.keys(value).sort().map((key) => `${pythonDumps(key)}: ${pythonDumps((value as Record<string, unknown>)[key])}`).join(', ')}}`
}
