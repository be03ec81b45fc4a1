/**
 * The facts a trajectory summary needs (each message's role, content length and tool-call names),
 * read straight from the UTF-8 bytes of a `messages` cell: no text decoded, no JSON built. Decoding
 * and JSON.parse were most of `stats --deep`, for messages cells of hundreds of KB.
 *
 * A fast path, exact where it answers: it answers only for input it checks in full (valid UTF-8,
 * valid JSON, the usual shapes of messages) and gives undefined for anything else, such as a key
 * written with escapes, a repeated key or multimodal content, for the caller to parse the text.
 */
import { isUtf8 } from 'node:buffer'
import { inKernelMemory, skipJsonString } from '../wasm/kernels.js'
import type { TurnFacts } from './messages.js'

/** Thrown (one instance) when the scan gives up; never leaves this module. */
const giveUp = new Error('not scanned')

// what a byte means inside a string without escapes (keys, roles, names), read here and not by the kernel
const PLAIN = 0
const QUOTE = 1
const STOP = 2 // a backslash (an escape), or a control character (invalid raw in a JSON string)
const stringBytes = new Uint8Array(256)
for (let b = 0; b < 0x20; b++) stringBytes[b] = STOP
stringBytes[0x22] = QUOTE
stringBytes[0x5c] = STOP

// a role or name that starts with U+FEFF keeps it, as in the parsed text
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true })
const keyRole = bytesOf('role')
const keyContent = bytesOf('content')
const keyToolCalls = bytesOf('tool_calls')
const keyFunction = bytesOf('function')
const keyName = bytesOf('name')
/** The keys looked for, by length. */
const knownKeys: Uint8Array[][] = []
for (const key of [keyRole, keyContent, keyToolCalls, keyFunction, keyName]) (knownKeys[key.length] ??= []).push(key)

// the scan's input and position: one scan at a time per thread
let bytes: Uint8Array = new Uint8Array(0)
let at = 0

/** The facts of each message in `cell`, or undefined where the caller must parse the text itself. */
export function scanTurnFacts(cell: Uint8Array): TurnFacts[] | undefined {
  if (!isUtf8(cell)) return undefined
  bytes = inKernelMemory(cell)
  at = 0
  try {
    space()
    if (bytes[at] !== 0x5b) return undefined
    const turns: TurnFacts[] = []
    elements(() => turns.push(message()))
    space()
    return at === bytes.length ? turns : undefined
  } catch (error) {
    // a stack overflow: nesting deeper than this scanner recurses
    if (error === giveUp || error instanceof RangeError) return undefined
    throw error
  } finally {
    bytes = new Uint8Array(0)
  }
}

/** One element of the messages array: as toTurn reads it, a non-object has role 'unknown' and no content. */
function message(): TurnFacts {
  const turn: TurnFacts = { role: 'unknown', contentLength: 0, toolCallNames: [] }
  if (bytes[at] !== 0x7b) {
    value()
    return turn
  }
  const seen = new Set<Uint8Array>()
  members((key) => {
    if (key === keyRole && once(seen, key)) {
      turn.role = bytes[at] === 0x22 ? text() : (value(), 'unknown')
    } else if (key === keyContent && once(seen, key)) {
      // a list of parts (multimodal content) is left to the parser
      if (bytes[at] === 0x5b) throw giveUp
      if (bytes[at] === 0x22) {
        at++
        turn.contentLength = stringUnits()
      } else value()
    } else if (key === keyToolCalls && once(seen, key)) {
      if (bytes[at] === 0x5b) turn.toolCallNames = toolCallNames()
      else value()
    } else value()
  })
  return turn
}

/** The names of a tool_calls array's calls ('unknown' where a call has no string function.name). */
function toolCallNames(): string[] {
  const names: string[] = []
  elements(() => names.push(nameAt([keyFunction, keyName])))
  return names
}

/** The string at `path` (keys of nested objects) of the value here, or 'unknown'; the value is consumed. */
function nameAt(path: Uint8Array[]): string {
  if (path.length === 0) return bytes[at] === 0x22 ? text() : (value(), 'unknown')
  if (bytes[at] !== 0x7b) {
    value()
    return 'unknown'
  }
  let name = 'unknown'
  let found = false
  members((key) => {
    if (key !== path[0]) return value()
    if (found) throw giveUp // a repeated key: JSON.parse keeps the last one
    found = true
    name = nameAt(path.slice(1))
  })
  return name
}

/**
 * An object's members: `onMember` gets each key (one of the known key arrays, or a fresh one) with
 * the position at its value, and must consume the value.
 */
function members(onMember: (key: Uint8Array) => void): void {
  items(0x7d, () => {
    expect(0x22)
    const key = keyBytes()
    space()
    expect(0x3a) // :
    space()
    onMember(key)
  })
}

/** An array's elements: `onElement` is called at each element and must consume it. */
function elements(onElement: () => void): void {
  items(0x5d, onElement)
}

/** The items of the object or array opening here, up to its `close`: `onItem` consumes each. */
function items(close: number, onItem: () => void): void {
  at++
  space()
  if (bytes[at] === close) {
    at++
    return
  }
  for (;;) {
    onItem()
    if (listEnd(close)) return
  }
}

/** After a member or element: true at the closing `close`, false after a comma. */
function listEnd(close: number): boolean {
  space()
  const byte = bytes[at++]
  if (byte === close) return true
  if (byte !== 0x2c) throw giveUp
  space()
  return false
}

/** A key (after its opening quote), as the matching known key array when it is one; keys with escapes are left to the parser. */
function keyBytes(): Uint8Array {
  const start = at
  const length = rawStringEnd() - start
  for (const known of knownKeys[length] ?? []) {
    let i = 0
    while (i < length && bytes[start + i] === known[i]) i++
    if (i === length) return known
  }
  return bytes.subarray(start, start + length)
}

/** A string value here decoded (strings with escapes are left to the parser: roles and names have none). */
function text(): string {
  at++
  const start = at
  return utf8.decode(bytes.subarray(start, rawStringEnd()))
}

/** Skip a string without escapes (after its opening quote); returns where its closing quote is. */
function rawStringEnd(): number {
  const input = bytes
  let i = at
  for (;;) {
    const kind = stringBytes[input[i++]!]
    if (kind === QUOTE) break
    if (kind !== PLAIN) throw giveUp // an escape, a control character or the end (undefined)
  }
  at = i
  return i - 1
}

/** Skip a string (after its opening quote), counting the UTF-16 units of its value (the kernel's loop). */
function stringUnits(): number {
  const skipped = skipJsonString(bytes, at)
  if (!skipped) throw giveUp
  at = skipped.end
  return skipped.units
}

/** Skip any JSON value here, checking its syntax. */
function value(): void {
  const byte = bytes[at]
  if (byte === 0x22) {
    at++
    stringUnits()
  } else if (byte === 0x7b) {
    members(() => value())
  } else if (byte === 0x5b) {
    elements(value)
  } else if (byte === 0x74) literal('true')
  else if (byte === 0x66) literal('false')
  else if (byte === 0x6e) literal('null')
  else number()
}

/** A JSON number: -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
function number(): void {
  if (bytes[at] === 0x2d) at++
  if (bytes[at] === 0x30) at++
  else digits()
  if (bytes[at] === 0x2e) {
    at++
    digits()
  }
  if (bytes[at] === 0x65 || bytes[at] === 0x45) {
    at++
    if (bytes[at] === 0x2b || bytes[at] === 0x2d) at++
    digits()
  }
}

/** One or more decimal digits. */
function digits(): void {
  if (!isDigit(bytes[at])) throw giveUp
  while (isDigit(bytes[at])) at++
}

function literal(word: string): void {
  for (let i = 0; i < word.length; i++) if (bytes[at++] !== word.charCodeAt(i)) throw giveUp
}

function space(): void {
  for (let byte = bytes[at]; byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09; byte = bytes[at]) at++
}

function expect(byte: number): void {
  if (bytes[at++] !== byte) throw giveUp
}

/** True the first time a key is seen in an object; a repeated key (JSON.parse keeps the last) gives up. */
function once(seen: Set<Uint8Array>, key: Uint8Array): boolean {
  if (seen.has(key)) throw giveUp
  seen.add(key)
  return true
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39
}

function bytesOf(key: string): Uint8Array {
  return new TextEncoder().encode(key)
}
