// The profile `ironlab calibrate` writes: the base profile (paper) with each measured key replaced by the
// median of its repetitions, marked `_kind: measured`, its `_doc` saying how it was measured and with what
// spread, and `_measured` naming the host, kernel and date. Pure: the measuring is in floods.ts.
import { HostProfile } from '../sim/profile.ts';

/** Numeric profile keys (the ones a measurement can replace). */
export type NumericKey = Exclude<
  { [K in keyof HostProfile]-?: NonNullable<HostProfile[K]> extends number ? K : never }[keyof HostProfile],
  undefined
>;

/** One measured profile value: a figure per repetition and how it was obtained. */
export interface Measurement {
  key: NumericKey;
  values: number[];
  unit: string;
  /** How it was measured (one sentence, goes into `_doc`). */
  how: string;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error('no values');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { median, min: s[0]!, max: s[s.length - 1]!, n: s.length };
}

/** Three significant digits: the repetitions do not support more. */
export function round3(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const d = Math.ceil(Math.log10(Math.abs(x)));
  const f = 10 ** (3 - d);
  return Math.round(x * f) / f;
}

export interface MeasuredOn {
  /** Host name, as `name` of the profile derives from it. */
  host: string;
  kernel: string;
  date: string;
  command: string;
  load?: string;
}

/** Base profile + measurements -> a validated profile (throws when a measured value is out of the schema's range). */
export function buildHostProfile(
  base: HostProfile,
  measurements: readonly Measurement[],
  on: MeasuredOn,
  replace: Partial<Pick<HostProfile, 'cpuModel' | 'nicName' | 'nicDriver' | 'coreCount' | 'irqTimeAccounting'>> = {},
): HostProfile {
  const out: Record<string, unknown> = structuredClone(base);
  const doc: Record<string, string> = { ...base._doc };
  const kind: Record<string, string> = { ...base._kind };
  const name = `host-${
    on.host
      .toLowerCase()
      .replace(/[^a-z0-9-]+/g, '-')
      .replace(/^-+|-+$/g, '') || 'unnamed'
  }`;
  out.name = name;
  out.description = `Measured by \`ironlab calibrate\` on ${on.host} (${on.kernel}) on ${on.date}, starting from the '${base.name}' profile: the keys marked measured in _kind were measured there; every other value is the ${base.name} profile's.`;
  for (const [k, v] of Object.entries(replace)) {
    out[k] = v;
    kind[k] = k === 'irqTimeAccounting' ? 'measured' : 'descriptive';
    doc[k] =
      k === 'irqTimeAccounting'
        ? `CONFIG_IRQ_TIME_ACCOUNTING as read from the kernel configuration of ${on.host} (${on.kernel}).`
        : `Read on ${on.host}.`;
  }
  for (const m of measurements) {
    const s = spread(m.values);
    out[m.key] = round3(s.median);
    kind[m.key] = 'measured';
    doc[m.key] =
      `${m.how} Measured by ironlab calibrate on ${on.host} (${on.kernel}, ${on.date}): median ${fmt(s.median)} ${m.unit} of ${s.n} (min ${fmt(s.min)}, max ${fmt(s.max)}).`;
  }
  out._doc = doc;
  out._kind = kind;
  out._measured = {
    host: on.host,
    kernel: on.kernel,
    date: on.date,
    command: on.command,
    basedOn: base.name,
    ...(on.load ? { load: on.load } : {}),
  };
  const parsed = HostProfile.safeParse(out);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`the measured profile is invalid at ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data;
}

export function fmt(x: number): string {
  return String(round3(x));
}
