import { mkdir, readFile, symlink, unlink, link, copyFile, stat, lstat } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { writeFileAtomic } from '../sinks/atomicFile.js'

/** Paths of one dataset repo inside the Hugging Face cache (the layout huggingface_hub and datasets use). */
export interface RepoCache {
  /** `{HF_HUB_CACHE}/datasets--{org}--{name}` */
  dir: string
  blob(etag: string): string
  snapshot(commit: string, path: string): string
  ref(revision: string): string
}

/** The cache folder layout for a dataset repo. */
export function repoCache(hubCache: string, repo: string): RepoCache {
  const dir = join(hubCache, `datasets--${repo.split('/').join('--')}`)
  return {
    dir,
    blob: (etag) => join(dir, 'blobs', etag),
    snapshot: (commit, path) => join(dir, 'snapshots', commit, ...path.split('/')),
    ref: (revision) => join(dir, 'refs', ...revision.split('/')),
  }
}

/** The commit a cached revision points to, if the cache knows it. */
export async function readRef(cache: RepoCache, revision: string): Promise<string | undefined> {
  try {
    return (await readFile(cache.ref(revision), 'utf8')).trim() || undefined
  } catch {
    return undefined
  }
}

/** Record revision → commit, atomically, without a trailing newline (as huggingface_hub does). */
export async function writeRef(cache: RepoCache, revision: string, commit: string): Promise<void> {
  await writeFileAtomic(cache.ref(revision), commit)
}

/**
 * Point `snapshots/{commit}/{path}` at the blob with a relative symlink; where symlinks are not
 * allowed (Windows without developer mode), a hard link or a copy.
 */
export async function linkSnapshot(cache: RepoCache, commit: string, path: string, etag: string): Promise<void> {
  const target = cache.snapshot(commit, path)
  const blob = cache.blob(etag)
  await mkdir(dirname(target), { recursive: true })
  await unlink(target).catch(() => {})
  try {
    await symlink(relative(dirname(target), blob), target)
  } catch {
    await link(blob, target).catch(() => copyFile(blob, target))
  }
}

/** Size of a file (following links), or undefined if it does not exist. */
export async function fileSize(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size
  } catch {
    return undefined
  }
}

/** True if something (even a dangling link) exists at path. */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false)
}

/** Paths used by `--local-dir` downloads, compatible with `hf download --local-dir`. */
export interface LocalDirLayout {
  file(path: string): string
  /** `.cache/huggingface/download/{path}.metadata`: commit, etag and timestamp, one per line. */
  metadata(path: string): string
  /** Where partial downloads live until complete. */
  incomplete(path: string, etag: string): string
}

/** The `--local-dir` layout. */
export function localDirLayout(root: string): LocalDirLayout {
  const download = join(root, '.cache', 'huggingface', 'download')
  return {
    file: (path) => join(root, ...path.split('/')),
    metadata: (path) => join(download, ...path.split('/')) + '.metadata',
    incomplete: (path, etag) => join(download, ...path.split('/')) + `.${etag}.incomplete`,
  }
}

/** Write hf's metadata file for a completed `--local-dir` download (and the folder's .gitignore). */
export async function writeLocalMetadata(root: string, layout: LocalDirLayout, path: string, commit: string, etag: string): Promise<void> {
  const cacheRoot = join(root, '.cache', 'huggingface')
  if (!(await exists(join(cacheRoot, '.gitignore')))) await writeFileAtomic(join(cacheRoot, '.gitignore'), '*')
  await writeFileAtomic(layout.metadata(path), `${commit}\n${etag}\n${Date.now() / 1000}\n`)
}

/** Read hf's metadata file of a `--local-dir` download. */
export async function readLocalMetadata(layout: LocalDirLayout, path: string): Promise<{ commit: string, etag: string, timestamp: number } | undefined> {
  try {
    const [commit, etag, timestamp] = (await readFile(layout.metadata(path), 'utf8')).split('\n')
    if (!commit || !etag) return undefined
    return { commit, etag, timestamp: Number(timestamp) }
  } catch {
    return undefined
  }
}
