import { createHttpClient, type HttpClient, type HttpClientOptions } from '../fetch/http.js'
import { hubSettings, type HubSettings, type HubSettingsOptions } from './settings.js'

/** A connection to one Hub endpoint: its settings and the HTTP client every request goes through. */
export interface Hub {
  settings: HubSettings
  http: HttpClient
}

/** Options for {@link createHub}. */
export type HubOptions = HubSettingsOptions & Omit<HttpClientOptions, 'hubOrigin' | 'token' | 'env' | 'offline'>

/** Resolve settings from options and environment and open the HTTP client for them. */
export function createHub(options: HubOptions = {}): Hub {
  const settings = hubSettings(options)
  const http = createHttpClient({ ...options, hubOrigin: settings.endpoint, token: settings.token, env: options.env, offline: settings.offline })
  return { settings, http }
}

/** URL-encode a revision the way huggingface_hub does (`refs/convert/parquet` → `refs%2Fconvert%2Fparquet`). */
export function encodeRevision(revision: string): string {
  return encodeURIComponent(revision)
}

/** URL-encode a repo path, keeping its slashes. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}
