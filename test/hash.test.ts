import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { open, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { orderedHasher, sha256File } from '../src/fetch/hash.js'
import { tempDir } from './support/cli.js'

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex')

let dir: { path: string, cleanup: () => Promise<void> }
before(async () => { dir = await tempDir() })
after(async () => { await dir.cleanup() })

describe('hashing', () => {
  test('a file written in parallel parts, out of order, hashes to the sha256 of its content', async () => {
    const content = randomBytes(5 * 1024 * 1024 + 333)
    const partSize = 1024 * 1024 + 7
    const path = join(dir.path, 'parts.bin')
    const handle = await open(path, 'w+')
    await handle.truncate(content.length)
    const parts = Math.ceil(content.length / partSize)
    const progress = new Array<number>(parts).fill(0)
    const hasher = orderedHasher(path, content.length, (position) => {
      const part = Math.floor(position / partSize)
      return part < parts ? part * partSize + progress[part]! : position
    })
    // blocks of every part land interleaved, the last part first, the first part last
    const block = 100_000
    while (progress.some((done, part) => part * partSize + done < Math.min(content.length, (part + 1) * partSize))) {
      for (let part = parts - 1; part >= 0; part--) {
        const start = part * partSize + progress[part]!
        const end = Math.min(content.length, (part + 1) * partSize, start + block)
        if (start >= end) continue
        await handle.write(content, start, end - start, start)
        progress[part]! += end - start
        hasher.wrote()
      }
    }
    await handle.close()
    assert.equal(await hasher.digest(), sha256(content))
    assert.equal(await sha256File(path), sha256(content))
  })

  test('a digest asked for before every byte is written is an error, not a wrong hash', async () => {
    const path = join(dir.path, 'short.bin')
    await writeFile(path, randomBytes(1000))
    let written = 600
    const hasher = orderedHasher(path, 1000, (position) => Math.max(position, written))
    hasher.wrote()
    written = 700
    await assert.rejects(hasher.digest(), /^Error: .*short\.bin: hashed 700 of 1000 bytes$/)
  })

  test('a hasher let go of (a failed download) answers no digest', async () => {
    const path = join(dir.path, 'abandoned.bin')
    await writeFile(path, randomBytes(100))
    const hasher = orderedHasher(path, 100, () => 100)
    hasher.wrote()
    hasher.close()
    await assert.rejects(hasher.digest(), /^Error: the file was closed before its digest$/)
  })

  test('an unreadable file fails the digest with the reason', async () => {
    const hasher = orderedHasher(join(dir.path, 'missing.bin'), 10, () => 10)
    hasher.wrote()
    await assert.rejects(hasher.digest(), /ENOENT/)
    await assert.rejects(sha256File(join(dir.path, 'missing.bin')), /ENOENT/)
  })

  test('a writtenEnd past the size hashes exactly the size', async () => {
    const content = randomBytes(3000)
    const path = join(dir.path, 'exact.bin')
    await writeFile(path, Buffer.concat([content, Buffer.alloc(500)]))
    const hasher = orderedHasher(path, 3000, () => 10_000)
    hasher.wrote()
    assert.equal(await hasher.digest(), sha256(content))
  })

  test('a file shorter than the bytes said written fails the digest', async () => {
    const path = join(dir.path, 'truncated.bin')
    await writeFile(path, randomBytes(100))
    await assert.rejects(orderedHasher(path, 200, () => 200).digest(), /^Error: unexpected end of file at byte 100$/)
  })
})
