import { readFileSync, writeFileSync } from 'node:fs'
import { parquetMetadata } from 'hyparquet'
const src = 'fixtures/data/tiny/repo/trajectories/SWE_Smith-00000-of-00003.parquet'
const buf = readFileSync(src)
const md = parquetMetadata(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length))
const rg = md.row_groups[1]!
const chunk = rg.columns.find((c) => c.meta_data!.path_in_schema[0] === 'messages')!
const m = chunk.meta_data!
console.log(m.codec, m.encodings, m.data_page_offset, m.dictionary_page_offset, m.total_compressed_size)
const start = Number(m.data_page_offset) + Number(process.argv[2])
const out = Buffer.from(buf)
for (let i = 0; i < Number(process.argv[3]); i++) out[start + i] = 0xff
writeFileSync('/tmp/h2-corrupt.parquet', out)
