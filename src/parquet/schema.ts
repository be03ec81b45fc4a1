import type { SchemaElement } from 'hyparquet'

/**
 * The top-level fields of a flattened Parquet schema, each as its subtree (the field first, then its
 * descendants), in schema order. One walk for every reader of the schema's shape.
 */
export function fieldSubtrees(schema: SchemaElement[]): SchemaElement[][] {
  const fields: SchemaElement[][] = []
  for (let i = 1; i < schema.length;) {
    const start = i
    for (let pending = 1; pending > 0; i++) pending += (schema[i]!.num_children ?? 0) - 1
    fields.push(schema.slice(start, i))
  }
  return fields
}
