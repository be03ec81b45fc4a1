import { readFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { UsageError } from '../errors.js'

/** Where the Hub is, who we are, and where its cache lives — resolved once per run. */
export interface HubSettings {
  /** Hub origin without trailing slash, e.g. https://huggingface.co or https://hf-mirror.com */
  endpoint: string
  token: string | undefined
  /** HF_HOME, e.g. ~/.cache/huggingface */
  hfHome: string
  /** The download cache shared with huggingface_hub (HF_HUB_CACHE, default $HF_HOME/hub). */
  hubCache: string
  /** HF_HUB_OFFLINE: never touch the network. */
  offline: boolean
}

/** Options for {@link hubSettings}; explicit values win over the environment. */
export interface HubSettingsOptions {
  endpoint?: string
  token?: string
  cacheDir?: string
  env?: NodeJS.ProcessEnv
}

/** Resolve settings the way huggingface_hub does (HF_ENDPOINT, HF_TOKEN, token file, HF_HOME, HF_HUB_CACHE). */
export function hubSettings(options: HubSettingsOptions = {}): HubSettings {
  const env = options.env ?? process.env
  const endpoint = (options.endpoint ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '')
  if (!/^https?:\/\/[^/]+/.test(endpoint)) {
    throw new UsageError(`invalid endpoint '${endpoint}': expected a URL such as https://huggingface.co or https://hf-mirror.com`)
  }
  const hfHome = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface')
  const hubCache = options.cacheDir ?? env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(hfHome, 'hub')
  return {
    endpoint,
    token: options.token ?? findToken(env, hfHome),
    hfHome,
    hubCache,
    offline: isTruthy(env.HF_HUB_OFFLINE) || isTruthy(env.TRANSFORMERS_OFFLINE),
  }
}

function findToken(env: NodeJS.ProcessEnv, hfHome: string): string | undefined {
  if (isTruthy(env.HF_HUB_DISABLE_IMPLICIT_TOKEN)) return undefined
  const fromEnv = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN
  if (fromEnv?.trim()) return fromEnv.trim()
  try {
    return readFileSync(env.HF_TOKEN_PATH ?? join(hfHome, 'token'), 'utf8').trim() || undefined
  } catch {
    return undefined
  }
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'on', 'yes', 'true'].includes(value.toLowerCase())
}
