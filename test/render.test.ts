import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { repoDir } from '../fixtures/index.js'
import { runCli, isolatedEnv, tempDir } from './support/cli.js'
import { useFixtureHub } from './support/fixtureHub.js'
import { duck, sqlString } from './support/duckdb.js'

// What `stats` prints for people (a terminal table, a Markdown block for a dataset card), character by
// character, for the seeded tiny fixtures. The JSON figures behind them are checked against DuckDB in
// stats.test.ts; here the rendering is pinned: labels, order, number formats, percentages, histograms.
const fixture = useFixtureHub()
const home = await tempDir()
const env = { ...isolatedEnv(home.path, {}), NO_COLOR: '1' }
after(() => home.cleanup())
const tiny = repoDir('tiny')
const files = (config: string, split: string) => join(tiny, config, `${split}-*.parquet`)

async function shown(args: string[]): Promise<string> {
  const result = await runCli(['stats', ...args], env)
  assert.equal(result.code, 0, result.stderr)
  return result.stdout
}

describe('stats as people read it', () => {
  test('the terminal table with --deep: shards, rewards, tasks and pass@k, repos, distributions per trajectory', async () => {
    const text = await shown([files('trajectories', 'SWE_Rebench'), '--deep'])
    assert.equal(text, EXPECTED_DEEP)
    // the figures it shows are the data's
    const [row] = await duck(`SELECT count(*) AS n, count(*) FILTER (reward = 0) AS zero, count(*) FILTER (reward = 1) AS one FROM read_parquet(${sqlString(files('trajectories', 'SWE_Rebench'))})`)
    assert.match(text, new RegExp(`· ${row!.n} rows ·`))
    assert.match(text, new RegExp(`reward +0\\.0 ${row!.zero} \\(.*1\\.0 ${row!.one} \\(`))
  })

  test('the tokenized config: token distributions, trainable share, context fit', async () => {
    assert.equal(await shown([files('trajectories-tokenized_qwencoder', 'R2E_Gym')]), EXPECTED_TOKENS)
  })

  test('--markdown: the dataset-card block, one column per split', async () => {
    const result = await runCli(['stats', '--split', 'SWE_Smith,R2E_Gym', '--deep', '--markdown'], { ...fixture.env, NO_COLOR: '1' })
    assert.equal(result.code, 0, result.stderr)
    assert.equal(result.stdout, EXPECTED_MARKDOWN)
  })
})

const EXPECTED_DEEP = "files\n  3 shards · 24 rows · 708 kB on disk · 1.71 MB uncompressed · 3 row groups\n  reward          0.0 14 (58.3%), 1.0 9 (37.5%), -1.0 1 (4.2%); mean 0.333\n  finish reason   tool_calls 23 (95.8%), stop 1 (4.2%)\n  license         Apache-2.0 8 (33.3%), BSD-3-Clause 8 (33.3%), MIT 8 (33.3%)\n  tasks           3 tasks, 8–8 runs each; pass@1 0.375, pass@2 0.631, pass@4 0.900, pass@8 1.000; solved 3 (100.0%)\n  top repos       0b01001001/spectree 8, pallets/flask 8, pydata/xarray 8\n  top images      qingyangwu/sweb.eval.x86_64.0b01001001_1776_spectree-27 8, qingyangwu/sweb.eval.x86_64.pallets_1776_flask-507 8, qingyangwu/sweb.eval.x86_64.pydata_1776_xarray-885 8\n\n  per trajectory          min    p50    p90        p99        max      mean  histogram\n  messages                 11     12     22        204        204      22.5  █        ▁\n  assistant turns           5      5     10         95         95      10.2  █        ▁\n  tool calls                5      6     11        108        108      11.3  █        ▁\n    execute_bash            1      3      6         56         56       5.4  \n    finish                  0      1      1          1          1       0.9  \n    str_replace_editor      0      2      4         38         38       3.8  \n    think                   0      1      1         13         13       1.1  \n  chars assistant         427    770  1,625     14,635     14,635   1,504.2  \n  chars system          5,933  5,933  5,933      5,933      5,933     5,933  \n  chars tool            1,186  1,931  4,066  1,186,370  1,186,370  51,735.3  \n  chars user            2,258  2,321  2,379      2,425      2,425   2,326.4  \n  ends w/ finish  21 (87.5%)\n"
const EXPECTED_TOKENS = "files\n  3 shards · 16 rows · 206 kB on disk · 619 kB uncompressed · 3 row groups\n  reward          0.0 8 (50.0%), 1.0 7 (43.8%), -1.0 1 (6.3%); mean 0.375\n  tasks           2 tasks, 8–8 runs each; pass@1 0.438, pass@2 0.714, pass@4 0.957, pass@8 1.000; solved 2 (100.0%)\n  top repos       pyramid 8, scrapy 8\n\n  per trajectory      min    p50    p90    p99    max     mean  histogram\n  input tokens      2,726  2,827  3,474  3,557  3,557  2,985.2  ▄█▂▃ ▂ ▂ ▃\n  trainable tokens    187    269    541    592    592    332.9  ▂█▅▃▂▂ ▂▂▂\n  trainable       11.2% of tokens\n  fits context    32k 16 (100.0%), 64k 16 (100.0%), 128k 16 (100.0%)\n"
const EXPECTED_MARKDOWN = "| | SWE_Smith | R2E_Gym |\n|---|---:|---:|\n| rows | 24 | 16 |\n| shards | 3 | 3 |\n| Parquet size | 262 kB | 56.3 kB |\n| reward = 1.0 | 14 (58.3%) | 7 (43.8%) |\n| reward = 0.0 | 9 (37.5%) | 8 (50.0%) |\n| reward = -1.0 | 1 (4.2%) | 1 (6.3%) |\n| tasks | 6 | 2 |\n| pass@1 (mean over tasks) | 0.583 | 0.438 |\n| messages p50 / p90 | 12 / 24 | 12 / 24 |\n| assistant turns p50 / p90 | 5 / 11 | 5 / 10 |\n| ends with finish | 87.5% | 87.5% |\n"
