import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { convertTrajectory, parseTrajectory, renderTurns, trainingFormats, trainingRecord } from '../src/trajectory/formats.js'
import { parseMessages, repoOf, runOf, summarize, summarizeCell, summarizeMessages, taskOf } from '../src/trajectory/messages.js'

// One OpenHands-style trajectory, as the dataset's `messages` column holds it: arguments as an object,
// as a JSON string, and as text that is not JSON; a think call, a str_replace edit, a finish.
const messages = [
  { role: 'system', content: 'You are an agent.' },
  { role: 'user', content: [{ type: 'text', text: 'Fix ' }, { type: 'image_url', image_url: 'x' }, { type: 'text', text: 'the bug.' }] },
  { role: 'assistant', content: 'Looking.', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'execute_bash', arguments: { command: 'ls', timeout: 30 } } }] },
  { role: 'tool', tool_call_id: 'c1', name: 'execute_bash', content: 'a.py' },
  { role: 'assistant', content: null, tool_calls: [{ id: 'c2', function: { name: 'str_replace_editor', arguments: '{"command":"str_replace","old_str":"a","new_str":"b"}' } }] },
  { role: 'tool', tool_call_id: 'c2', name: 'str_replace_editor', content: 'done' },
  { role: 'assistant', content: '', tool_calls: [{ id: 'c3', function: { name: 'finish', arguments: 'not json' } }] },
  { role: 'tool', tool_call_id: 'c3', name: 'finish', content: 'ok' },
]
const json = JSON.stringify(messages)
const tools = JSON.stringify([{ type: 'function', function: { name: 'execute_bash' } }])

describe('trajectory: messages read into turns', () => {
  test('content, tool calls and their arguments in every shape the dumps use', () => {
    const turns = parseMessages(json)
    assert.equal(turns.length, 8)
    assert.deepEqual(turns.map((turn) => turn.role), ['system', 'user', 'assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool'])
    assert.equal(turns[1]!.content, 'Fix the bug.', 'the text parts of multimodal content, joined')
    assert.equal(turns[4]!.content, '', 'null content is empty text')
    assert.deepEqual(turns[2]!.toolCalls, [{ id: 'c1', name: 'execute_bash', arguments: { command: 'ls', timeout: 30 } }])
    assert.deepEqual(turns[4]!.toolCalls[0]!.arguments, { command: 'str_replace', old_str: 'a', new_str: 'b' }, 'a JSON string is parsed')
    assert.equal(turns[6]!.toolCalls[0]!.arguments, 'not json', 'text that is not JSON stays text')
    assert.equal(turns[3]!.toolCallId, 'c1')
    assert.equal(turns[3]!.name, 'execute_bash')
    assert.equal(turns[2]!.toolCallId, undefined)
    assert.equal(turns[2]!.name, undefined)
    assert.equal('reasoning' in turns[2]!, false)
  })

  test('missing and odd fields: defaults, never a throw', () => {
    const turns = parseMessages(JSON.stringify([
      {},
      'not an object',
      { role: 'assistant', content: 7, reasoning_content: 'hmm', tool_calls: [{ id: 5, function: { arguments: '[1, 2]' } }, null, { function: { name: 'x', arguments: ['a'] } }] },
      { role: 'assistant', content: 'x', reasoning_content: '', tool_calls: 'none', tool_call_id: 3, name: 4 },
    ]))
    assert.deepEqual(turns[0], { role: 'unknown', content: '', toolCalls: [], toolCallId: undefined, name: undefined })
    assert.deepEqual(turns[1], turns[0])
    assert.deepEqual(turns[2], {
      role: 'assistant', content: '', reasoning: 'hmm', toolCallId: undefined, name: undefined,
      toolCalls: [
        { id: undefined, name: 'unknown', arguments: '[1, 2]' }, // a JSON array is not an arguments object
        { id: undefined, name: 'unknown', arguments: {} },
        { id: undefined, name: 'x', arguments: {} },
      ],
    })
    assert.deepEqual(turns[3], { role: 'assistant', content: 'x', toolCalls: [], toolCallId: undefined, name: undefined }, 'empty reasoning is none')
    assert.throws(() => parseMessages('{"role":"user"}'), { name: 'SyntaxError', message: 'messages is not a JSON array' })
    // parts that are not text parts, JSON arguments that are not objects, reasoning that is not text
    const [odd] = parseMessages(JSON.stringify([{ role: 'assistant', content: [null, { text: 5 }, 'x', { type: 'text', text: 'a' }], reasoning_content: 7,
      tool_calls: [{ function: { name: 'n', arguments: 'null' } }, { function: { name: 'f', arguments: '5' } }] }]))
    assert.equal(odd!.content, 'a')
    assert.equal('reasoning' in odd!, false)
    assert.deepEqual(odd!.toolCalls.map((call) => call.arguments), ['null', '5'])
    assert.throws(() => parseMessages('[{'), SyntaxError)
  })

  test('a summary: messages, assistant turns, calls per tool, chars per role, whether the last assistant turn finishes', () => {
    assert.deepEqual(summarizeMessages(json), {
      messages: 8,
      assistantTurns: 3,
      toolCalls: { execute_bash: 1, str_replace_editor: 1, finish: 1 },
      endsWithFinish: true,
      charsByRole: { system: 17, user: 12, assistant: 8, tool: 10 },
    })
    // finish in an earlier turn only does not count; nor does a finish result
    const earlier = [...messages.slice(0, 6), messages[6], messages[7], { role: 'assistant', content: 'one more thing' }]
    assert.equal(summarize(parseMessages(JSON.stringify(earlier))).endsWithFinish, false)
    assert.equal(summarize([]).endsWithFinish, false)
    assert.equal(summarize(parseMessages(JSON.stringify(messages.slice(0, 4)))).endsWithFinish, false, 'a last assistant turn calling another tool')
    assert.deepEqual(summarize([]), { messages: 0, assistantTurns: 0, toolCalls: {}, endsWithFinish: false, charsByRole: {} })
  })

  test('a cell: null is no summary, text that is not JSON a null summary, UTF-8 bytes decoded', () => {
    assert.equal(summarizeCell(null), undefined)
    assert.equal(summarizeCell(undefined), undefined)
    assert.equal(summarizeCell('not json'), null)
    assert.equal(summarizeCell('{"a":1}'), null, 'JSON that is not an array')
    assert.deepEqual(summarizeCell(new TextEncoder().encode('[{"role":"user","content":"é"}]')), summarizeMessages('[{"role":"user","content":"é"}]'))
    assert.equal(summarizeCell(new TextEncoder().encode('[{"role":"user","content":"é"}]'))!.charsByRole.user, 1)
  })

  test('task, run and repository from an id (and image)', () => {
    assert.equal(taskOf('django__django-11099_run3'), 'django__django-11099')
    assert.equal(taskOf('django__django-11099_incomplete_20250101_120000_run2'), 'django__django-11099')
    assert.equal(taskOf('no_suffix'), 'no_suffix')
    assert.equal(taskOf('x_run'), 'x_run')
    assert.equal(taskOf('t_run12'), 't')
    assert.equal(taskOf('t_run1b'), 't_run1b', 'only a suffix')
    assert.equal(runOf('t_run1_b'), undefined, 'only a suffix')
    assert.equal(runOf('django__django-11099_run12'), 12)
    assert.equal(runOf('django__django-11099'), undefined)
    assert.equal(repoOf('anything_run1', 'docker.io/swebench/sweb.eval.x86_64.astropy_1776_astropy-12907:latest'), undefined, 'a tag is not an image name end')
    assert.equal(repoOf('anything_run1', 'docker.io/swebench/sweb.eval.x86_64.Astropy_1776_astropy-12907'), 'astropy/astropy')
    assert.equal(repoOf('x_run1', 'jyangballin/swesmith.x86_64.pandas-dev_1776_pandas.95280573'), 'pandas-dev/pandas')
    assert.equal(repoOf(`qingyangwu_Orange3_final_${'a'.repeat(40)}_run1`), 'orange3')
    assert.equal(repoOf('Django__Django-11099_run1'), 'django/django')
    assert.equal(repoOf('pydata__xarray_a1b2c3d4_extra_incomplete_20250101_120000_run2'), 'pydata/xarray')
    assert.equal(repoOf('plain_run1'), undefined)
    assert.equal(repoOf('octo__repo_run1'), 'octo/repo')
    assert.equal(repoOf('o__r-12_incomplete_20250101_120000_run2'), 'o/r')
    assert.equal(repoOf('a_b__c_run1'), undefined, 'the owner starts the id')
    assert.equal(repoOf('o__r_run1x'), undefined, '_runN ends the id')
    assert.equal(repoOf(`aqingyangwu_x_final_${'a'.repeat(40)}_run1`), undefined, 'R2E ids start with qingyangwu_')
    assert.equal(repoOf('qingyangwu_x_final_abc_run1'), undefined, 'and carry a 40-hex commit')
  })
})

describe('trajectory: validation and renderings', () => {
  test('the training formats', () => {
    assert.deepEqual(trainingFormats, ['openai', 'sharegpt', 'hermes', 'xml'])
  })

  test('rejections name the reason', () => {
    const reject = (list: unknown[], toolsJson: string | null = null) => {
      const result = parseTrajectory(JSON.stringify(list), toolsJson)
      return 'rejected' in result ? result.rejected : undefined
    }
    assert.deepEqual(parseTrajectory('[', null), { rejected: 'unparseable_messages' })
    assert.equal(reject(messages, '{'), 'unparseable_tools')
    assert.equal(reject(messages, '{"a":1}'), 'unparseable_tools', 'tools must be an array')
    assert.equal(reject(messages, ''), undefined, 'empty tools text is no tools')
    assert.equal(reject([{ role: 'user', content: 'hi' }]), 'no_assistant_turn')
    assert.equal(reject([{ role: 'assistant', content: '  \n' }]), 'empty_assistant_turn')
    assert.equal(reject([{ role: 'assistant', content: 'a' }, { role: 'tool', tool_call_id: 'c9', content: 'r' }]), 'orphan_tool_result')
    assert.equal(reject([{ role: 'assistant', content: 'a' }, { role: 'tool', content: 'r' }]), 'orphan_tool_result', 'a result without an id')
    // a result before its call is an orphan too
    assert.equal(reject([{ role: 'tool', tool_call_id: 'c1', content: 'r' }, messages[2]]), 'orphan_tool_result')
    const ok = parseTrajectory(json, tools)
    assert.ok(!('rejected' in ok))
    assert.deepEqual(ok.tools, [{ type: 'function', function: { name: 'execute_bash' } }])
    assert.deepEqual((parseTrajectory(json, null) as { tools: unknown[] }).tools, [])
  })

  test('openai: structured tool calls, arguments as JSON strings or objects, tool messages with their call id', () => {
    const turns = parseMessages(json)
    const strings = renderTurns(turns, 'openai')
    assert.deepEqual(strings[2], { role: 'assistant', content: 'Looking.', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'execute_bash', arguments: '{"command":"ls","timeout":30}' } }] })
    assert.deepEqual(strings[3], { role: 'tool', tool_call_id: 'c1', name: 'execute_bash', content: 'a.py' })
    assert.equal(strings[6]!.tool_calls![0]!.function.arguments, 'not json')
    assert.deepEqual(strings[0], { role: 'system', content: 'You are an agent.' }, 'no tool fields on other messages')
    const objects = renderTurns(turns, 'openai', 'object')
    assert.deepEqual(objects[2]!.tool_calls![0]!.function.arguments, { command: 'ls', timeout: 30 })
    assert.deepEqual(objects[4]!.tool_calls![0]!.function.arguments, { command: 'str_replace', old_str: 'a', new_str: 'b' })
    assert.deepEqual(objects[6]!.tool_calls![0]!.function.arguments, { arguments: 'not json' }, 'text under one key, so a template can iterate it')
  })

  test('hermes and sharegpt: <tool_call> JSON in the assistant text, results in <tool_response>', () => {
    const turns = parseMessages(json)
    const hermes = renderTurns(turns, 'hermes')
    assert.deepEqual(hermes[2], { role: 'assistant', content: 'Looking.\n<tool_call>\n{"name":"execute_bash","arguments":{"command":"ls","timeout":30}}\n</tool_call>' })
    assert.deepEqual(hermes[3], { role: 'user', content: '<tool_response>\na.py\n</tool_response>' })
    assert.equal(hermes[4]!.content, '<tool_call>\n{"name":"str_replace_editor","arguments":{"command":"str_replace","old_str":"a","new_str":"b"}}\n</tool_call>', 'no empty text before the call')
    assert.deepEqual(hermes[0], { role: 'system', content: 'You are an agent.' })
    const sharegpt = renderTurns(turns, 'sharegpt')
    assert.equal(sharegpt[3]!.role, 'tool')
    assert.equal(sharegpt[2]!.content, hermes[2]!.content)
    const record = trainingRecord(sharegpt, [{ name: 't' }], 'sharegpt', 'id1')
    assert.deepEqual(Object.keys(record), ['id', 'conversations', 'tools'])
    assert.deepEqual((record.conversations as { from: string }[]).map((m) => m.from), ['system', 'human', 'gpt', 'tool', 'gpt', 'tool', 'gpt', 'tool'])
    assert.equal(record.tools, '[{"name":"t"}]', 'ShareGPT carries tools as a JSON string')
    assert.deepEqual(trainingRecord([{ role: 'critic', content: 'x' }], [], 'sharegpt'), { conversations: [{ from: 'critic', value: 'x' }], tools: '[]' }, 'an unknown role as it is; no id field without an id')
  })

  test('xml: <function=NAME> with <parameter=K>, edit texts between newlines, other values as JSON', () => {
    const turns = parseMessages(json)
    const xml = renderTurns(turns, 'xml')
    assert.equal(xml[2]!.content, 'Looking.\n\n<function=execute_bash>\n<parameter=command>ls</parameter>\n<parameter=timeout>30</parameter>\n</function>')
    assert.equal(xml[4]!.content, '<function=str_replace_editor>\n<parameter=command>str_replace</parameter>\n<parameter=old_str>\na\n</parameter>\n<parameter=new_str>\nb\n</parameter>\n</function>')
    assert.equal(xml[6]!.content, '<function=finish>\n<parameter=arguments>not json</parameter>\n</function>')
    assert.deepEqual(xml[3], { role: 'user', content: '<tool_response>\na.py\n</tool_response>' })
    const fileText = renderTurns(parseMessages(JSON.stringify([{ role: 'assistant', content: 'w', tool_calls: [{ id: 'c', function: { name: 'e', arguments: { file_text: 'x', list: [1], flag: true } } }] }])), 'xml')
    assert.equal(fileText[0]!.content, 'w\n\n<function=e>\n<parameter=file_text>\nx\n</parameter>\n<parameter=list>[1]</parameter>\n<parameter=flag>true</parameter>\n</function>')
  })

  test('convertTrajectory: validated, rendered turn for turn, with the id and tools', () => {
    const converted = convertTrajectory(json, tools, 'openai', 'django__django-1_run1')
    assert.ok('record' in converted)
    assert.equal(converted.record.id, 'django__django-1_run1')
    assert.deepEqual(converted.record.tools, [{ type: 'function', function: { name: 'execute_bash' } }])
    assert.deepEqual(converted.record.messages, renderTurns(parseMessages(json), 'openai'))
    assert.deepEqual(convertTrajectory('[]', null, 'openai'), { rejected: 'no_assistant_turn' })
    assert.equal('id' in (convertTrajectory(json, null, 'hermes') as { record: Record<string, unknown> }).record, false)
  })
})
