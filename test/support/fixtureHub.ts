import { after, before } from 'node:test'
import { repoDir } from '../../fixtures/index.js'
import { isolatedEnv, tempDir } from './cli.js'
import { startHub, type HubEmulator, type RepoSpec } from './emulator/index.js'

/** The dataset id the tiny fixtures are served under. */
export const fixtureRepo = 'togethercomputer/CoderForge-Preview'

/** What a test file shares: the emulator serving the tiny fixtures, a temporary HOME, and the CLI's environment. */
export interface FixtureHub {
  hub: HubEmulator
  home: string
  env: NodeJS.ProcessEnv
}

/**
 * Start the emulator with the tiny fixtures (and any extra repos) before the file's tests and stop it
 * after; the returned object is filled in by then.
 */
export function useFixtureHub(extraRepos: RepoSpec[] = []): FixtureHub {
  const context = {} as FixtureHub
  let cleanup: (() => Promise<void>) | undefined
  before(async () => {
    context.hub = await startHub({ repos: [{ id: fixtureRepo, dir: repoDir('tiny') }, ...extraRepos] })
    const home = await tempDir()
    cleanup = home.cleanup
    context.home = home.path
    context.env = isolatedEnv(home.path, { HF_ENDPOINT: context.hub.endpoint })
  })
  after(async () => {
    await context.hub.close()
    await cleanup?.()
  })
  return context
}
