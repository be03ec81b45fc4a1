import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, stat } from 'node:fs/promises'
import { join, relative, sep } from 'node:path'

/** One file of an emulated repository, with the identities the Hub derives for it. */
export interface RepoFile {
  path: string
  absolute: string
  size: number
  lfs: boolean
  sha256: string
  /** Git blob id: of the LFS pointer for LFS files, of the content otherwise. */
  oid: string
  pointerSize: number
}

/** A repository as the emulator serves it. */
export interface EmulatedRepo {
  id: string
  gated: false | 'auto' | 'manual'
  private: boolean
  files: RepoFile[]
  /** Commits, oldest first; `main` is the last. */
  commits: string[]
  filesBySha: Map<string, RepoFile>
}

const lfsThreshold = 10 * 1024 * 1024

/** Scan a folder into a repository: every file, sha256 computed once. */
export async function loadRepo(spec: { id: string, dir: string, gated?: false | 'auto' | 'manual', private?: boolean }): Promise<EmulatedRepo> {
  const files: RepoFile[] = []
  for (const absolute of await walk(spec.dir)) {
    const { size } = await stat(absolute)
    const path = relative(spec.dir, absolute).split(sep).join('/')
    const sha256 = await hashFile(absolute)
    const lfs = path.endsWith('.parquet') || size > lfsThreshold
    const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`
    const oid = lfs ? gitBlobId(Buffer.from(pointer)) : gitBlobId(await readAll(absolute))
    files.push({ path, absolute, size, lfs, sha256, oid, pointerSize: Buffer.byteLength(pointer) })
  }
  const repo: EmulatedRepo = {
    id: spec.id,
    gated: spec.gated ?? false,
    private: spec.private ?? false,
    files,
    commits: [],
    filesBySha: new Map(files.map((file) => [file.sha256, file])),
  }
  addCommit(repo)
  return repo
}

/** Make a new commit (same files, new sha) at the head of main. */
export function addCommit(repo: EmulatedRepo): string {
  const hash = createHash('sha1').update(`${repo.id}\n${repo.commits.length}\n`)
  for (const file of repo.files) hash.update(`${file.path} ${file.oid}\n`)
  const commit = hash.digest('hex')
  repo.commits.push(commit)
  return commit
}

/**
 * The commit a revision names: `main`, the tag `v1.0` (the first commit), `refs/convert/parquet`,
 * `refs/pr/N` (the head), or a full commit id.
 */
export function commitFor(repo: EmulatedRepo, revision: string): string | undefined {
  if (revision === 'main' || revision === 'refs/convert/parquet' || /^refs\/pr\/\d+$/.test(revision)) return repo.commits.at(-1)
  if (revision === 'v1.0') return repo.commits[0]
  return repo.commits.includes(revision) ? revision : undefined
}

/** Split `{revision}/{path}` where the revision may be raw with slashes (refs/convert/parquet) or %2F-encoded. */
export function splitRevision(rest: string): { revision: string, path: string } {
  const raw = /^(refs\/convert\/parquet|refs\/pr\/\d+)(?:\/(.*))?$/.exec(rest)
  if (raw) return { revision: raw[1]!, path: raw[2] ?? '' }
  const slash = rest.indexOf('/')
  const revision = decodeURIComponent(slash === -1 ? rest : rest.slice(0, slash))
  return { revision, path: slash === -1 ? '' : rest.slice(slash + 1) }
}

function gitBlobId(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.length}\0`).update(content).digest('hex')
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await walk(path))
    else if (entry.isFile()) out.push(path)
  }
  return out.sort()
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256')
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

async function readAll(path: string): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of createReadStream(path)) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}
