// The official SDKs (npm `openai`, `@anthropic-ai/sdk`, pinned in package-lock.json) against
// `sluice-cli serve` in front of `sluice-cli simulate`, both started here on free ports of 127.0.0.1.
// Asserts what the SDKs themselves see: reply objects, error classes, headers, retries.
// Run by run-sdk-tests.sh (ctest: sdk_gateway) with SLUICE_CLI set to the sluice-cli binary.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const cli = process.env.SLUICE_CLI;
assert.ok(cli, 'SLUICE_CLI must name the sluice-cli binary');

const children = [];
const work = mkdtempSync(join(tmpdir(), 'sluice-sdk-'));

/// Starts `sluice-cli ARGS...` and resolves with the port from its "... listening on http://HOST:PORT" line.
function start(args) {
    return new Promise((resolve, reject) => {
        const child = spawn(cli, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        children.push(child);
        let err = '';
        const timer = setTimeout(() => reject(new Error(`no port from ${args[0]}: ${err}`)), 15000);
        child.stderr.on('data', (chunk) => {
            err += chunk;
            const m = /listening on https?:\/\/127\.0\.0\.1:(\d+)/.exec(err);
            if (m) {
                clearTimeout(timer);
                resolve(Number(m[1]));
            }
        });
        child.on('error', (e) => reject(e));
        child.on('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${err}`)));
    });
}

/// A gateway with these endpoints (provider inferred from each URL's path) in front of the simulator.
async function gateway(name, endpoints, extra = {}) {
    const project = join(work, `${name}.json`);
    writeFileSync(project, JSON.stringify({
        endpoints: endpoints.map(([n, path, model, fields = {}]) =>
            ({ name: n, url: `http://127.0.0.1:${simPort}${path}`, model, ...fields })),
        limits: { max_attempts: 1 },
        ...extra,
    }));
    const port = await start(['serve', '--project', project, '--port', '0']);
    return `http://127.0.0.1:${port}`;
}

async function metric(base, line) {
    const text = await (await fetch(`${base}/metrics`)).text();
    const found = text.split('\n').find((l) => l.startsWith(line + ' '));
    return found ? Number(found.split(' ').pop()) : NaN;
}

let simPort;
let openaiGateway; // OpenAI endpoints only
let anthropicGateway; // Anthropic endpoints only

before(async () => {
    simPort = await start(['simulate', '--port', '0']);
    openaiGateway = await gateway('openai', [['oa', '/v1/chat/completions', 'gpt-sim']]);
    anthropicGateway = await gateway('anthropic', [['an', '/v1/messages', 'claude-sim']]);
});

after(() => {
    for (const child of children) {
        child.kill('SIGTERM');
    }
    rmSync(work, { recursive: true, force: true });
});

const openai = (baseURL, options = {}) => new OpenAI({ apiKey: 'sk-sdk-test', baseURL: `${baseURL}/v1`, ...options });
const anthropic = (baseURL, options = {}) => new Anthropic({ apiKey: 'sk-ant-sdk-test', baseURL, ...options });

describe('same dialect', () => {
    test('openai chat.completions.create', async () => {
        const r = await openai(openaiGateway).chat.completions.create({
            model: 'gpt-sim', messages: [{ role: 'user', content: 'hello openai' }],
        });
        assert.equal(r.object, 'chat.completion');
        assert.equal(r.choices[0].message.content, 'Simulated reply to: hello openai');
        assert.equal(r.choices[0].finish_reason, 'stop');
        assert.ok(r.usage.completion_tokens > 0);
    });

    test('anthropic messages.create', async () => {
        const r = await anthropic(anthropicGateway).messages.create({
            model: 'claude-sim', max_tokens: 64, messages: [{ role: 'user', content: 'hello anthropic' }],
        });
        assert.equal(r.type, 'message');
        assert.equal(r.content[0].text, 'Simulated reply to: hello anthropic');
        assert.equal(r.stop_reason, 'end_turn');
        assert.ok(r.usage.output_tokens > 0);
    });
});

describe('cross-dialect: the caller decides the shape', () => {
    test('openai SDK through an Anthropic endpoint', async () => {
        const r = await openai(anthropicGateway).chat.completions.create({
            model: 'claude-sim',
            messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'cross one' }],
        });
        assert.equal(r.choices[0].message.content, 'Simulated reply to: cross one');
        assert.equal(r.choices[0].finish_reason, 'stop');
        assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
    });

    test('anthropic SDK through an OpenAI endpoint', async () => {
        const r = await anthropic(openaiGateway).messages.create({
            model: 'gpt-sim', max_tokens: 64, system: 'Be brief.', messages: [{ role: 'user', content: 'cross two' }],
        });
        assert.equal(r.type, 'message');
        assert.equal(r.content[0].type, 'text');
        assert.equal(r.content[0].text, 'Simulated reply to: cross two');
        assert.equal(r.stop_reason, 'end_turn');
        assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
    });

    test('an upstream error in the other dialect is the SDK\'s own error class', async () => {
        await assert.rejects(
            openai(anthropicGateway).chat.completions.create({
                model: 'claude-sim', messages: [{ role: 'user', content: 'bad @sim(status=400)' }],
            }),
            (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.type === 'invalid_request_error'
                && e.headers.get('x-sluice-error-class') === 'client');
        await assert.rejects(
            anthropic(openaiGateway).messages.create({
                model: 'gpt-sim', max_tokens: 8, messages: [{ role: 'user', content: 'bad @sim(status=400)' }],
            }),
            (e) => e instanceof Anthropic.BadRequestError && e.status === 400
                && e.error?.error?.type === 'invalid_request_error');
    });
});

describe('errors and retries', () => {
    test('429 with Retry-After: RateLimitError, the upstream\'s wait, and no SDK retry on top', async () => {
        const accepted = await metric(openaiGateway, 'sluice_gateway_callers_total{result="accepted"}');
        await assert.rejects(
            openai(openaiGateway, { maxRetries: 2 }).chat.completions.create({
                model: 'gpt-sim', messages: [{ role: 'user', content: 'limited @sim(status=429,retry_after=2)' }],
            }),
            (e) => e instanceof OpenAI.RateLimitError && e.status === 429 && e.headers.get('retry-after') === '2'
                && e.headers.get('x-should-retry') === 'false');
        // x-should-retry: false kept the SDK from sending it again.
        assert.equal(await metric(openaiGateway, 'sluice_gateway_callers_total{result="accepted"}'), accepted + 1);
        await assert.rejects(
            anthropic(anthropicGateway, { maxRetries: 2 }).messages.create({
                model: 'claude-sim', max_tokens: 8,
                messages: [{ role: 'user', content: 'limited @sim(status=429,retry_after=2)' }],
            }),
            (e) => e instanceof Anthropic.RateLimitError && e.headers.get('retry-after') === '2'
                && e.error?.error?.type === 'rate_limit_error');
    });

    test('the gateway\'s own refusal (unknown route) in each SDK\'s shape', async () => {
        await assert.rejects(openai(openaiGateway).embeddings.create({ model: 'x', input: 'y' }),
            (e) => e instanceof OpenAI.NotFoundError && e.headers.get('x-sluice-error-class') === 'not_found');
        await assert.rejects(anthropic(anthropicGateway).messages.batches.list(),
            (e) => e instanceof Anthropic.NotFoundError && e.error?.error?.type === 'not_found_error');
    });
});

describe('a caller key\'s cost budget', () => {
    // Output at $1,000 per Mtok: a call's worst case is about its max_tokens in dollars over a thousand,
    // while a reply of a few tokens costs a cent or so. A $1.50 budget holds one 1,000-token worst case
    // at a time, and never a 2,000-token one.
    const teamKey = 'sk-sdk-team-budget';
    let base;
    before(async () => {
        base = await gateway('key-budget', [['oa', '/v1/chat/completions', 'gpt-sim',
            { price: { input_per_mtok: 1, output_per_mtok: 1000 } }]], {
            gateway: { keys: [{ name: 'team', sha256: createHash('sha256').update(teamKey).digest('hex'),
                max_cost_usd: 1.5 }] },
        });
    });
    const team = (options = {}) => new OpenAI({ apiKey: teamKey, baseURL: `${base}/v1`, ...options });
    const refusals = () => metric(base, 'sluice_gateway_key_requests_total{key="team",result="budget_exhausted"}');

    test('held by a call in flight: the next call waits in the gateway, unsent, and goes once it is answered',
        async () => {
            const slow = team().chat.completions.create({
                model: 'gpt-sim', max_tokens: 1000, messages: [{ role: 'user', content: 'slow @sim(delay_ms=1500)' }],
            });
            await new Promise((resolve) => setTimeout(resolve, 200)); // the slow call holds its worst case
            const before = await refusals();
            const started = Date.now();
            const next = await team({ maxRetries: 0 }).chat.completions.create({
                model: 'gpt-sim', max_tokens: 1000, messages: [{ role: 'user', content: 'next in line' }],
            });
            const waitedMs = Date.now() - started;
            assert.equal(next.choices[0].message.content, 'Simulated reply to: next in line');
            assert.equal((await slow).choices[0].message.content, 'Simulated reply to: slow @sim(delay_ms=1500)');
            // No refusal and no SDK retry: it waited for the slow call's answer (about 1.3 s from here).
            assert.equal(await refusals(), before);
            assert.ok(waitedMs >= 1000, `the next call went after ${waitedMs} ms, before the slow one was answered`);
        });

    test('a call it can never cover: RateLimitError budget_exhausted, not retried by the SDK', async () => {
        const before = await refusals();
        await assert.rejects(
            team({ maxRetries: 2 }).chat.completions.create({
                model: 'gpt-sim', max_tokens: 2000, messages: [{ role: 'user', content: 'too dear' }],
            }),
            (e) => e instanceof OpenAI.RateLimitError && e.code === 'budget_exhausted'
                && e.headers.get('x-should-retry') === 'false' && /has no room for this call/.test(e.message));
        assert.equal(await refusals(), before + 1); // x-should-retry: false kept the SDK from asking again
    });
});

describe('models and token counts', () => {
    test('models.list in both SDKs', async () => {
        const o = [];
        for await (const m of openai(openaiGateway).models.list()) {
            o.push(m.id);
        }
        assert.deepEqual(o, ['gpt-sim']);
        const a = [];
        for await (const m of anthropic(anthropicGateway).models.list()) {
            a.push(m.id);
        }
        assert.deepEqual(a, ['claude-sim']);
    });

    test('messages.countTokens is an estimate', async () => {
        const r = await anthropic(anthropicGateway).messages.countTokens({
            model: 'claude-sim', messages: [{ role: 'user', content: 'x'.repeat(400) }],
        });
        assert.ok(r.input_tokens >= 100 && r.input_tokens <= 110, String(r.input_tokens));
    });
});

/// Polls `line` of the gateway's /metrics until `want(value)` holds; the last value seen.
async function metricUntil(base, line, want, timeoutMs = 2000) {
    const end = Date.now() + timeoutMs;
    let value = await metric(base, line);
    while (!want(value) && Date.now() < end) {
        await new Promise((r) => setTimeout(r, 50));
        value = await metric(base, line);
    }
    return value;
}

/// Reads an OpenAI chat-completion stream: the text, the last finish_reason, the usage chunk's usage.
async function readOpenAiStream(stream) {
    let text = '';
    let finish = null;
    let usage = null;
    let chunks = 0;
    for await (const chunk of stream) {
        ++chunks;
        if (chunk.usage) {
            usage = chunk.usage;
        }
        const choice = chunk.choices[0];
        if (choice) {
            text += choice.delta?.content ?? '';
            finish = choice.finish_reason ?? finish;
        }
    }
    return { text, finish, usage, chunks };
}

const lookupTool = {
    openai: { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: { text: { type: 'string' } } } } },
    anthropic: { name: 'lookup', input_schema: { type: 'object', properties: { text: { type: 'string' } } } },
};

describe('streaming', () => {
    // [gateway, its endpoint's dialect] for the same-dialect and the cross-dialect runs.
    const gateways = () => [['openai endpoint', openaiGateway], ['anthropic endpoint', anthropicGateway]];

    test('openai chat.completions.create({stream: true}), with and without include_usage', async () => {
        for (const [where, base] of gateways()) {
            for (const includeUsage of [false, true]) {
                const prompt = `stream ${where} ${includeUsage}`;
                const stream = await openai(base).chat.completions.create({
                    model: 'gpt-sim', stream: true, messages: [{ role: 'user', content: prompt }],
                    ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
                });
                const r = await readOpenAiStream(stream);
                assert.equal(r.text, `Simulated reply to: ${prompt}`, where);
                assert.equal(r.finish, 'stop', where);
                assert.ok(r.chunks >= 4, `${where}: ${r.chunks} chunks`);
                if (includeUsage) {
                    assert.ok(r.usage?.prompt_tokens > 0 && r.usage?.completion_tokens > 0, `${where}: ${JSON.stringify(r.usage)}`);
                } else {
                    assert.equal(r.usage, null, where);
                }
            }
        }
    });

    test('anthropic messages.stream(): finalMessage text and usage', async () => {
        for (const [where, base] of gateways()) {
            const prompt = `anthropic stream ${where}`;
            const stream = anthropic(base).messages.stream({
                model: 'claude-sim', max_tokens: 64, messages: [{ role: 'user', content: prompt }],
            });
            let pieces = 0;
            stream.on('text', () => ++pieces);
            const m = await stream.finalMessage();
            assert.equal(m.type, 'message', where);
            assert.equal(m.content[0].type, 'text', where);
            assert.equal(m.content[0].text, `Simulated reply to: ${prompt}`, where);
            assert.equal(m.stop_reason, 'end_turn', where);
            assert.ok(m.usage.input_tokens > 0 && m.usage.output_tokens > 0, `${where}: ${JSON.stringify(m.usage)}`);
            assert.ok(pieces >= 2, `${where}: ${pieces} text events`);
        }
    });

    test('streamed tool calls assembled by both SDKs', async () => {
        for (const [where, base] of gateways()) {
            const prompt = `tool please ${where}`;
            const o = await openai(base).chat.completions.stream({
                model: 'gpt-sim', messages: [{ role: 'user', content: prompt }], tools: [lookupTool.openai],
            }).finalChatCompletion();
            const call = o.choices[0].message.tool_calls?.[0];
            assert.equal(call?.function?.name, 'lookup', `${where}: ${JSON.stringify(o.choices[0].message)}`);
            assert.deepEqual(JSON.parse(call.function.arguments), { text: prompt }, where);
            assert.equal(o.choices[0].finish_reason, 'tool_calls', where);

            const a = await anthropic(base).messages.stream({
                model: 'claude-sim', max_tokens: 64, messages: [{ role: 'user', content: prompt }],
                tools: [lookupTool.anthropic],
            }).finalMessage();
            const use = a.content.find((b) => b.type === 'tool_use');
            assert.equal(use?.name, 'lookup', `${where}: ${JSON.stringify(a.content)}`);
            assert.deepEqual(use.input, { text: prompt }, where);
            assert.equal(a.stop_reason, 'tool_use', where);
        }
    });

    test('a mid-stream upstream failure surfaces as the SDK\'s APIError after the first text', async () => {
        // One content chunk, a pause (the caller has it: no retry any more), then the fault.
        for (const [where, base] of gateways()) {
            for (const fault of ['cut_after=2', 'error_after=2']) {
                const prompt = `fail mid-stream ${where} @sim(${fault},stall_after=1,stall_ms=300)`;
                const stream = await openai(base).chat.completions.create({
                    model: 'gpt-sim', stream: true, messages: [{ role: 'user', content: prompt }],
                });
                let text = '';
                await assert.rejects(async () => {
                    for await (const chunk of stream) {
                        text += chunk.choices[0]?.delta?.content ?? '';
                    }
                }, (e) => e instanceof OpenAI.APIError && typeof e.error?.message === 'string', `${where} ${fault}`);
                assert.ok(text.length > 0 && 'Simulated reply to: '.startsWith(text.slice(0, 20)), `${where} ${fault}: "${text}"`);

                const a = anthropic(base).messages.stream({
                    model: 'claude-sim', max_tokens: 64, messages: [{ role: 'user', content: prompt }],
                });
                let atext = '';
                a.on('text', (t) => { atext += t; });
                await assert.rejects(a.finalMessage(),
                    (e) => e instanceof Anthropic.APIError && e.error?.type === 'error' && typeof e.error?.error?.type === 'string',
                    `${where} ${fault}`);
                assert.ok(atext.length > 0, `${where} ${fault}: no text before the error`);
            }
        }
    });

    test('aborting a stream ends the upstream request', async () => {
        // The stream pauses 5 s after its first chunk: only a cancelled upstream request leaves
        // sluice_in_flight before then.
        const prompt = 'abort me @sim(stall_after=1,stall_ms=5000)';
        for (const [where, base] of gateways()) {
            const gone = await metric(base, 'sluice_gateway_streams_total{result="gone"}');
            const stream = await openai(base).chat.completions.create({
                model: 'gpt-sim', stream: true, messages: [{ role: 'user', content: `${prompt} openai ${where}` }],
            });
            for await (const chunk of stream) {
                if (chunk.choices[0]?.delta?.content) {
                    assert.equal(await metric(base, 'sluice_in_flight'), 1, where);
                    assert.equal(await metric(base, 'sluice_gateway_streams_active'), 1, where);
                    stream.controller.abort();
                }
            }
            assert.equal(await metricUntil(base, 'sluice_in_flight', (v) => v === 0), 0, `${where}: still in flight`);
            assert.equal(await metricUntil(base, 'sluice_gateway_streams_total{result="gone"}', (v) => v === gone + 1), gone + 1, where);
            assert.equal(await metric(base, 'sluice_gateway_streams_active'), 0, where);

            const a = anthropic(base).messages.stream({
                model: 'claude-sim', max_tokens: 64, messages: [{ role: 'user', content: `${prompt} anthropic ${where}` }],
            });
            a.on('text', () => a.abort());
            await assert.rejects(a.finalMessage(), (e) => e instanceof Anthropic.APIUserAbortError, where);
            assert.equal(await metricUntil(base, 'sluice_in_flight', (v) => v === 0), 0, `${where}: still in flight`);
            assert.equal(await metricUntil(base, 'sluice_gateway_streams_total{result="gone"}', (v) => v === gone + 2), gone + 2, where);
        }
    });
});
