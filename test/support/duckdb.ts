import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api'

let connection: Promise<DuckDBConnection> | undefined

/** Rows of a DuckDB query as plain JSON-like objects (the independent reader tests compare against). */
export async function duck(sql: string): Promise<Record<string, unknown>[]> {
  connection ??= DuckDBInstance.create(':memory:', { threads: '2', autoinstall_known_extensions: 'false' }).then((db) => db.connect())
  const result = await (await connection).runAndReadAll(sql)
  return result.getRowObjectsJson() as Record<string, unknown>[]
}

/** Quote a path for a DuckDB string literal. */
export function sqlString(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}
