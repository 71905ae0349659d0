// The wire between orchestrator and agents. Both sides validate every message with these schemas; anything
// that does not parse is refused with an `error` message and never reaches a handler.
//
//   server -> agent   {type:'challenge', nonce, protocol}            on connect
//   agent  -> server  {type:'hello', hostId, backend, version, protocol, nonce, proof}   the agent's proof
//   server -> agent   {type:'welcome', hostId, proof} | {type:'error', ...} + close    the orchestrator's proof
//   ---- from here on every frame is sealed (sequence number + MAC, see channel.ts)
//   server -> agent   {type:'request', id, op, args}                 id = operation id (idempotency key)
//   agent  -> server  {type:'response', id, ok:true, result} | {type:'response', id, ok:false, error}
//   agent  -> server  {type:'event', id, event, data}                progress of a running op
// Proofs are HMAC-SHA256 with the host's key over the protocol, the host id and both nonces (channel.ts).
// A peer that speaks another protocol version is refused with a message that says which side to upgrade.
import { z } from 'zod';
import { Enforcement } from './enforcement/modes.ts';
import { RunSpec } from './run-spec.ts';
import { Sample } from './samples.ts';
import type { EnforcementSupport, HostFacts, RunResult } from './backend.ts';
import { BACKEND_KINDS } from './backends/registry.ts';

/** 3: heartbeats are sealed frames too (2: WebSocket pings, unauthenticated; 1: one-way proof, plain frames). */
export const PROTOCOL_VERSION = 3;
/** Messages above this size are refused (ws closes the socket with 1009). */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** WebSocket close codes of our own (4000-4999 are application codes). */
export const CLOSE = { unauthenticated: 4401, forbidden: 4403, protocol: 4400, replaced: 4409 } as const;

/** A host id, wherever one is written (campaign files, inventories, the wire): 1-63 letters, digits, . _ - */
export const HOST_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
const HostId = z.string().regex(HOST_ID_PATTERN, 'host ids are 1-63 letters, digits, . _ -');
const OpId = z.string().min(1).max(200);
const Nonce = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex digits');
const Proof = z.string().regex(/^[0-9a-f]{64}$/, 'expected 64 hex digits');

export const ErrorBody = z
  .object({
    code: z.string().max(64),
    message: z.string().max(4000),
    retryable: z.boolean(),
    /** The op that failed, when the request ran several (run.execute). */
    op: z.string().max(64).optional(),
  })
  .strict();
export type ErrorBody = z.infer<typeof ErrorBody>;

// ---- server -> agent
export const Challenge = z.object({ type: z.literal('challenge'), nonce: Nonce, protocol: z.number().int() }).strict();
export const Welcome = z.object({ type: z.literal('welcome'), hostId: HostId, proof: Proof }).strict();
export const Request = z.object({ type: z.literal('request'), id: OpId, op: z.string().max(64), args: z.unknown() }).strict();
export const ServerError = z.object({ type: z.literal('error'), error: ErrorBody, inReplyTo: z.string().optional() }).strict();
/** A heartbeat, sent sealed like every frame after the handshake, so no one on the path can fake liveness; the agent echoes it. */
export const Beat = z.object({ type: z.literal('beat'), n: z.number().int().nonnegative() }).strict();
export const ServerMessage = z.discriminatedUnion('type', [Challenge, Welcome, Request, ServerError, Beat]);
export type ServerMessage = z.infer<typeof ServerMessage>;

// ---- agent -> server
export const Hello = z
  .object({
    type: z.literal('hello'),
    hostId: HostId,
    backend: z.enum(BACKEND_KINDS),
    version: z.string().max(64),
    protocol: z.number().int(),
    nonce: Nonce,
    proof: Proof,
  })
  .strict();
/** Just enough of a hello or challenge to tell which protocol its sender speaks (any version's shape). */
export const ProtocolProbe = z.looseObject({ type: z.enum(['hello', 'challenge']), protocol: z.number().int() });
// Discriminated (by `type`, then `ok`): a frame is checked against its one schema, not tried against each.
export const Response = z.discriminatedUnion('ok', [
  z.object({ type: z.literal('response'), id: OpId, ok: z.literal(true), result: z.unknown() }).strict(),
  z.object({ type: z.literal('response'), id: OpId, ok: z.literal(false), error: ErrorBody }).strict(),
]);
export const Event = z
  .object({ type: z.literal('event'), id: OpId, event: z.enum(['progress', 'log']), data: z.record(z.string(), z.unknown()) })
  .strict();
export const AgentError = z.object({ type: z.literal('error'), error: ErrorBody, inReplyTo: z.string().optional() }).strict();
export const AgentMessage = z.discriminatedUnion('type', [Hello, Response, Event, AgentError, Beat]);
export type AgentMessage = z.infer<typeof AgentMessage>;
export type Hello = z.infer<typeof Hello>;

// ---- results
export const HostFactsSchema: z.ZodType<HostFacts> = z.object({
  hostId: z.string(),
  backend: z.enum(BACKEND_KINDS),
  kernel: z.string(),
  cpuModel: z.string(),
  cores: z.number().int().min(1),
  nic: z.object({ name: z.string(), driver: z.string(), speedMbps: z.number().nullable() }),
  cgroupVersion: z.union([z.literal(1), z.literal(2), z.null()]),
  extra: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});
export const CapabilitiesSchema: z.ZodType<EnforcementSupport[]> = z.array(
  z.object({ mode: Enforcement, available: z.boolean(), reason: z.string().optional() }),
);
export const RunResultSchema: z.ZodType<RunResult> = z.object({
  runId: z.string(),
  samples: z.array(Sample),
  provenance: z.record(z.string(), z.union([z.string(), z.number(), z.null()])),
});

// The sample schema's own bounds, so the check below cannot drift from it.
const METRIC_LEN = [Sample.shape.metric.minLength ?? 0, Sample.shape.metric.maxLength ?? Infinity] as const;
const UNIT_MAX_LEN = Sample.shape.unit.maxLength ?? Infinity;

/**
 * True when `data` already is exactly what RunResultSchema would return (the keys it keeps, labels present, every
 * field of its type and size): the orchestrator then takes it as it is, without zod's copy of every sample (a
 * lab campaign's results were most of what it validated, and their copies much of its garbage). Anything else,
 * also what the schema would accept after a change (extra keys stripped, labels defaulted), goes to the schema.
 */
export function isExactRunResult(data: unknown): data is RunResult {
  if (!isRecord(data) || keyCount(data) !== 3 || typeof data.runId !== 'string' || !Array.isArray(data.samples)) return false;
  const provenance = data.provenance;
  if (!isRecord(provenance)) return false;
  for (const k in provenance) {
    const v = provenance[k];
    if (v !== null && typeof v !== 'string' && !(typeof v === 'number' && Number.isFinite(v))) return false;
  }
  for (const s of data.samples as unknown[]) {
    if (!isRecord(s) || keyCount(s) !== 4) return false;
    const { metric, value, unit, labels } = s;
    if (typeof metric !== 'string' || metric.length < METRIC_LEN[0] || metric.length > METRIC_LEN[1]) return false;
    if (typeof value !== 'number' || !Number.isFinite(value) || typeof unit !== 'string' || unit.length > UNIT_MAX_LEN) return false;
    if (!isRecord(labels)) return false;
    for (const k in labels) if (typeof labels[k] !== 'string') return false;
  }
  return true;
}

/** A plain object as JSON.parse makes them (not an array, no prototype of its own). */
function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && Object.getPrototypeOf(x) === Object.prototype;
}

function keyCount(o: object): number {
  let n = 0;
  for (const k in o) if (Object.hasOwn(o, k)) n++;
  return n;
}

/** The ops an agent answers: argument and result schemas. An op not listed here is refused. */
export const OPS = {
  facts: { args: z.object({}).strict(), result: HostFactsSchema },
  capabilities: { args: z.object({}).strict(), result: CapabilitiesSchema },
  'run.setup': { args: z.object({ run: RunSpec }).strict(), result: z.null() },
  'run.warmup': { args: z.object({ runId: z.string() }).strict(), result: z.null() },
  'run.measure': { args: z.object({ runId: z.string() }).strict(), result: z.null() },
  'run.collect': { args: z.object({ runId: z.string() }).strict(), result: RunResultSchema },
  'run.teardown': { args: z.object({ runId: z.string() }).strict(), result: z.null() },
  /**
   * run.setup, run.warmup, run.measure and run.collect in one request, in that order, then run.teardown whatever
   * happened; answered with collect's result, or the error of the first that failed, naming that op. One round
   * trip instead of five.
   */
  'run.execute': { args: z.object({ run: RunSpec }).strict(), result: RunResultSchema },
  reap: { args: z.object({ campaignId: z.string().optional() }).strict(), result: z.array(z.string()) },
} as const;
export type OpName = keyof typeof OPS;
export type OpArgs<O extends OpName> = z.input<(typeof OPS)[O]['args']>;
export type OpResult<O extends OpName> = z.infer<(typeof OPS)[O]['result']>;

export function isOpName(op: string): op is OpName {
  return Object.prototype.hasOwnProperty.call(OPS, op);
}

/** Parse one frame: JSON, then the schema. Returns a readable reason instead of throwing. */
export function parseMessage<T>(schema: z.ZodType<T>, raw: unknown): { ok: true; value: T } | { ok: false; reason: string } {
  let data: unknown;
  try {
    data = JSON.parse(typeof raw === 'string' ? raw : Buffer.isBuffer(raw) ? raw.toString('utf8') : String(raw));
  } catch {
    return { ok: false, reason: 'message is not valid JSON' };
  }
  const parsed = schema.safeParse(data);
  if (!parsed.success) return { ok: false, reason: describeZodError(parsed.error) };
  return { ok: true, value: parsed.data };
}

export function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid message';
  const path = issue.path.length ? issue.path.join('.') : '(message)';
  return `${path}: ${issue.message}`;
}
