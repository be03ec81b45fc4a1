import { Template } from '@huggingface/jinja'
import { readFile } from 'node:fs/promises'
import { UsageError } from '../errors.js'
import type { ChatMessage } from '../trajectory/formats.js'

/** A chat template ready to render conversations. */
export interface ChatTemplate {
  path: string
  /** The conversation as the template renders it; throws when the template fails on it. */
  render(messages: ChatMessage[], tools: unknown[]): string
}

/**
 * Load a Jinja chat template (a `.jinja` file, or a `tokenizer_config.json` holding `chat_template`)
 * for @huggingface/jinja, the engine made for Hugging Face chat templates. Rendering passes
 * `messages`, `tools` (when there are any), `add_generation_prompt: false`, and the config's
 * `bos_token` / `eos_token` when it has them.
 */
export async function loadChatTemplate(path: string): Promise<ChatTemplate> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    throw new UsageError(`cannot read --chat-template ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): give a .jinja file`)
  }
  let source = text
  let specials: Record<string, string> = {}
  if (path.endsWith('.json')) {
    const config = JSON.parse(text) as { chat_template?: unknown, bos_token?: unknown, eos_token?: unknown }
    if (typeof config.chat_template !== 'string') throw new UsageError(`${path} has no chat_template string: give a .jinja file`)
    source = config.chat_template
    specials = Object.fromEntries(['bos_token', 'eos_token'].flatMap((key) => {
      const value = config[key as 'bos_token']
      return typeof value === 'string' ? [[key, value]] : []
    }))
  }
  let template: Template
  try {
    template = new Template(source)
  } catch (error) {
    throw new UsageError(`--chat-template ${path} does not parse: ${(error as Error).message}`)
  }
  return {
    path,
    render: (messages, tools) => template.render({ messages, ...(tools.length ? { tools } : {}), add_generation_prompt: false, ...specials }),
  }
}

/** A one-line, bounded reason for a template failure, for the report's counts. */
export function failureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return message.split('\n')[0]!.slice(0, 120)
}
