// Run one SQL statement in DuckDB (@duckdb/node-api), for benchmarks timed from outside.
import { DuckDBInstance } from '@duckdb/node-api'

const [sql, threads = '2'] = process.argv.slice(2)
const db = await DuckDBInstance.create(':memory:', { threads, autoinstall_known_extensions: 'false' })
const connection = await db.connect()
await connection.run(sql)
