// Pure parsing of "when" phrases: one-shot times ("in 2 hours", "tomorrow 9:00") and recurrences ("every day at 9:00", cron).
import { CronExpressionParser } from 'cron-parser';
import { DateTime, Duration, type DurationLikeObject } from 'luxon';
import { InvalidInputError } from '../errors.ts';

/** A parsed "when": one run at `runAt`, or a recurrence by cron `pattern` (in the zone) or fixed `everyMs`. */
export type WhenSpec =
  | { kind: 'at'; runAt: Date; description: string }
  | { kind: 'every'; pattern?: string; everyMs?: number; description: string };

/** What a phrase is relative to: the current instant and the user's IANA time zone. */
export interface WhenContext {
  now: Date;
  zone: string;
}

/** Shortest accepted interval of an "every" schedule. */
export const MIN_EVERY_MS = 1000;

/** The forms people may use, for messages that refuse a phrase. */
export const ACCEPTED_FORMS = [
  'once: "in 2 hours", "in 30 minutes", "tomorrow 9:00", "monday 08:30", "today 17:00", "at 14:30", "2030-12-24T09:00"',
  'repeatedly: "every 15 minutes", "every hour", "every day at 9:00", "every weekday at 8:00", "every monday at 10:00", or a 5-field cron expression such as "0 9 * * 1-5"',
];

// ---- regex building blocks (no capture groups; forms add named groups around them) ----
const AMPM = String.raw`\s?[ap]\.?m\.?`;
const HHMM = String.raw`(?:[01]?\d|2[0-3])[:h][0-5]\d(?::[0-5]\d)?`;
const TIME = String.raw`(?:${HHMM}(?:${AMPM})?|(?:1[0-2]|0?[1-9])${AMPM}|noon|midnight)(?!\w)`;
/** A time, optionally after "at"; a bare hour ("at 9") only after "at". */
const TIME_AT = String.raw`(?:(?:at\s+)?${TIME}|at\s+(?:[01]?\d|2[0-3])(?![\w:]))`;
const DAY_NAMES = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const DAY_FULL = String.raw`(?:${DAY_NAMES.join('|')})(?!\w)`;
const DAY_ANY = String.raw`(?:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)(?!\w)`;
const DAY_LIST = String.raw`${DAY_ANY}(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+)${DAY_ANY})*`;
const UNIT = String.raw`(?:seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|wks?|w|months?|years?|yrs?)(?![a-z])`;
/** A count and its unit: "2 hours", "30m", "an hour" (a word count needs a space, so "and" is never "a n d"). */
const AMOUNT = String.raw`(?:\d+(?:\.\d+)?\s*|(?:an?|one)\s+)${UNIT}`;
const DURATION = String.raw`(?:half\s+an?\s+hour|${AMOUNT}(?:(?:\s*,\s*|\s+and\s+|\s+)${AMOUNT})*)`;
const ISO = String.raw`\d{4}-\d\d-\d\d(?:(?:t|\s+(?:at\s+)?)(?:${TIME}|[01]\d:[0-5]\d(?::[0-5]\d(?:\.\d+)?)?)(?:z|[+-]\d\d(?::?\d\d)?)?)?`;
const CRON_NAME = '(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat)';
const CRON_NUM = String.raw`[\d*][\d*/,\-]*`;
const CRON_ANY = String.raw`(?:${CRON_NUM}|\?|${CRON_NAME}(?:[-,/](?:${CRON_NAME}|\d+))*)`;
const CRON = String.raw`${CRON_NUM}\s+${CRON_NUM}\s+${CRON_ANY}\s+${CRON_ANY}\s+${CRON_ANY}(?!\S)`;

interface Form {
  source: string;
  /** Only as the whole "when", never as the start of a request. */
  wholeOnly?: boolean;
  build(g: Record<string, string | undefined>, ctx: WhenContext): WhenSpec;
}

const FORMS: Form[] = [
  // "every 0 9 * * 1-5" as the README writes it, "cron 0 9 * * 1-5", or the bare expression.
  { source: String.raw`(?:(?:every|each)\s+)?(?:cron\s+)?(?<cron>${CRON})`, build: (g, ctx) => cronSpec(g.cron!, ctx) },
  {
    source: String.raw`(?:every|each)\s+(?:(?<n>\d+(?:\.\d+)?)\s*)?(?<unit>${UNIT})`,
    build: (g) => intervalSpec(g.n, g.unit!),
  },
  { source: 'hourly', build: () => intervalSpec(undefined, 'hour') },
  {
    source: String.raw`(?:(?:every|each)\s+day|daily)(?:\s+(?<time>${TIME_AT}))?`,
    build: (g) => weeklySpec('every day', '*', g.time),
  },
  {
    source: String.raw`(?:(?:every|each|on)\s+weekdays?|weekdays)(?:\s+(?<time>${TIME_AT}))?`,
    build: (g) => weeklySpec('every weekday', '1-5', g.time),
  },
  {
    source: String.raw`(?:(?:every|each|on)\s+weekends?(?:\s+days?)?|weekends)(?:\s+(?<time>${TIME_AT}))?`,
    build: (g) => weeklySpec('every weekend day', '0,6', g.time),
  },
  {
    source: String.raw`(?:every|each)\s+(?<days>${DAY_LIST})(?:\s+(?<time>${TIME_AT}))?`,
    build: (g) => daysSpec(g.days!, g.time),
  },
  { source: String.raw`(?:at\s+)?in\s+(?<dur>${DURATION})`, build: (g, ctx) => inSpec(g.dur!, ctx) },
  {
    source: String.raw`(?:(?:at|on)\s+)?(?<rel>today|tomorrow|yesterday)\s+(?<time>${TIME_AT})`,
    build: (g, ctx) => relDaySpec(g.rel!, g.time, ctx),
  },
  // Without a time: refused with a hint; a bare "today" does not start a schedule in free text ("today summarise ...").
  {
    source: String.raw`(?:(?:at|on)\s+)?(?<rel>tomorrow|yesterday)`,
    build: (g, ctx) => relDaySpec(g.rel!, undefined, ctx),
  },
  { source: 'today', build: (g, ctx) => relDaySpec('today', undefined, ctx), wholeOnly: true },
  {
    source: String.raw`(?<time>${TIME_AT})\s+(?<rel>today|tomorrow|yesterday)`,
    build: (g, ctx) => relDaySpec(g.rel!, g.time, ctx),
  },
  {
    source: String.raw`(?:(?:at|on)\s+)?(?<next>next\s+)?(?<day>${DAY_ANY})\s+(?<time>${TIME_AT})`,
    build: (g, ctx) => weekdaySpec(g.day!, Boolean(g.next), g.time, ctx),
  },
  {
    source: String.raw`(?:(?:at|on)\s+)?(?<next>next\s+)?(?<day>${DAY_FULL})`,
    build: (g, ctx) => weekdaySpec(g.day!, Boolean(g.next), undefined, ctx),
  },
  {
    source: String.raw`(?<time>${TIME_AT})\s+(?:on\s+)?(?<next>next\s+)?(?<day>${DAY_ANY})`,
    build: (g, ctx) => weekdaySpec(g.day!, Boolean(g.next), g.time, ctx),
  },
  { source: String.raw`(?:(?:at|on)\s+)?(?<iso>${ISO})`, build: (g, ctx) => isoSpec(g.iso!, ctx) },
  // A bare time needs "at" unless it has minutes or am/pm ("9:00", "9pm"), so "noon tea" or "9 people" are not schedules.
  {
    source: String.raw`(?<time>at\s+${TIME}|at\s+(?:[01]?\d|2[0-3])(?![\w:])|${HHMM}(?:${AMPM})?(?!\w)|(?:1[0-2]|0?[1-9])${AMPM}(?!\w))`,
    build: (g, ctx) => bareTimeSpec(g.time!, ctx),
  },
  { source: '(?<time>noon|midnight)', build: (g, ctx) => bareTimeSpec(g.time!, ctx), wholeOnly: true },
];

const FULL = FORMS.map((f) => ({ form: f, re: new RegExp(`^(?:${f.source})$`, 'i') }));
const PREFIX = FORMS.filter((f) => !f.wholeOnly).map((f) => ({
  form: f,
  re: new RegExp(`^(?:${f.source})(?=$|[\\s,:;])`, 'i'),
}));

/** Parses a "when" phrase in the user's zone; throws InvalidInputError with a message people can act on. */
export function parseWhen(text: string, ctx: WhenContext): WhenSpec {
  assertZone(ctx.zone);
  // Trailing punctuation is dropped ("9 a.m." still reads as a time: the final dot is optional there).
  const when = String(text ?? '')
    .trim()
    .replace(/\s+/g, ' ')
    .replace(/[\s,;:!.]+$/, '');
  if (!when) throw new InvalidInputError(`Say when, for example ${ACCEPTED_FORMS.join('; or ')}.`);
  for (const { form, re } of FULL) {
    const m = re.exec(when);
    if (m) return form.build(m.groups ?? {}, ctx);
  }
  throw new InvalidInputError(
    `I could not understand when "${when.slice(0, 80)}" is. Say it ${ACCEPTED_FORMS.join('; or ')}. Times are in your time zone (${ctx.zone}).`,
  );
}

/** Splits "every day at 9:00 summarise the news" into when and what; null when the text does not start with a schedule phrase. */
export function splitScheduleRequest(text: string): { when: string; what: string } | null {
  const source = String(text ?? '').trimStart();
  let best = '';
  for (const { re } of PREFIX) {
    const m = re.exec(source);
    if (m && m[0].length > best.length) best = m[0];
  }
  if (!best) return null;
  return {
    when: best.trim().replace(/\s+/g, ' '),
    what: source
      .slice(best.length)
      .replace(/^[\s,:;-]+/, '')
      .trim(),
  };
}

/** When a spec runs next after `now` (the run time of an "at", the next cron match, or now + interval). */
export function nextRunOf(spec: WhenSpec, ctx: WhenContext): Date {
  if (spec.kind === 'at') return spec.runAt;
  if (spec.pattern)
    return CronExpressionParser.parse(spec.pattern, { tz: ctx.zone, currentDate: ctx.now }).next().toDate();
  return new Date(ctx.now.getTime() + spec.everyMs!);
}

/** The canonical IANA name of a zone ("europe/berlin" -> "Europe/Berlin"), or null when unknown. */
export function canonicalZone(zone: string): string | null {
  const z = String(zone ?? '').trim();
  if (!z || !/^[A-Za-z0-9_+\-/]+$/.test(z)) return null;
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: z }).resolvedOptions().timeZone;
  } catch {
    return null;
  }
}

/** Formats an instant for people, in a zone: "Mon 30 Mar 2025 at 09:00 (Europe/Berlin)". */
export function formatInstant(at: Date, zone: string): string {
  const dt = DateTime.fromJSDate(at, { zone });
  return `${dt.toFormat(dt.second ? "ccc d LLL yyyy 'at' HH:mm:ss" : "ccc d LLL yyyy 'at' HH:mm")} (${zone})`;
}

// ---- builders ----

function assertZone(zone: string): void {
  if (!canonicalZone(zone))
    throw new InvalidInputError(
      `"${zone}" is not a time zone I know; use an IANA name such as Europe/Berlin, America/New_York or UTC.`,
    );
}

function nowIn(ctx: WhenContext): DateTime {
  return DateTime.fromJSDate(ctx.now, { zone: ctx.zone });
}

/** A future instant, or the "already passed" refusal. */
function future(dt: DateTime, ctx: WhenContext, label?: string): WhenSpec {
  if (!dt.isValid) throw new InvalidInputError(`That date does not exist (${dt.invalidExplanation ?? 'invalid'}).`);
  if (dt.toMillis() <= ctx.now.getTime()) {
    throw new InvalidInputError(
      `That time has already passed (${formatInstant(dt.toJSDate(), ctx.zone)}; it is now ${formatInstant(ctx.now, ctx.zone)}). Pick a time in the future.`,
    );
  }
  const runAt = dt.toJSDate();
  return { kind: 'at', runAt, description: `${label ? `${label}, ` : ''}${formatInstant(runAt, ctx.zone)}` };
}

interface ClockTime {
  hour: number;
  minute: number;
  second: number;
}

/** Parses "9:00", "09:30:15", "9am", "9:30 p.m.", "noon", "midnight", "at 9" (the leading "at" optional). */
export function parseClock(text: string): ClockTime {
  const t = text
    .trim()
    .toLowerCase()
    .replace(/^at\s+/, '');
  if (t === 'noon') return { hour: 12, minute: 0, second: 0 };
  if (t === 'midnight') return { hour: 0, minute: 0, second: 0 };
  const m = /^(\d{1,2})(?:[:h](\d{2})(?::(\d{2}))?)?\s?(?:([ap])\.?m\.?)?$/.exec(t);
  if (!m) throw new InvalidInputError(`"${text}" is not a time; say e.g. 9:00, 17:30 or 9am.`);
  let hour = Number(m[1]);
  const minute = Number(m[2] ?? 0);
  const second = Number(m[3] ?? 0);
  if (m[4]) {
    if (hour < 1 || hour > 12) throw new InvalidInputError(`"${text}" is not a time: with am/pm the hour is 1-12.`);
    hour = (hour % 12) + (m[4] === 'p' ? 12 : 0);
  }
  if (hour > 23 || minute > 59 || second > 59)
    throw new InvalidInputError(`"${text}" is not a time; say e.g. 9:00 or 17:30.`);
  return { hour, minute, second };
}

function at(date: DateTime, clock: ClockTime, zone: string): DateTime {
  // fromObject resolves a wall time that a DST change skips by moving it forward (02:30 -> 03:30).
  return DateTime.fromObject({ year: date.year, month: date.month, day: date.day, ...clock, millisecond: 0 }, { zone });
}

function needTime(example: string): never {
  throw new InvalidInputError(`Say at what time too, e.g. "${example}".`);
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

function unitKey(unit: string): 's' | 'm' | 'h' | 'd' | 'w' | 'mo' | 'y' {
  const u = unit.toLowerCase();
  if (u.startsWith('mo')) return 'mo';
  if (u.startsWith('y')) return 'y';
  if (u.startsWith('s')) return 's';
  if (u.startsWith('m')) return 'm';
  if (u.startsWith('h')) return 'h';
  if (u.startsWith('d')) return 'd';
  return 'w';
}

function count(n: string | undefined): number {
  if (n === undefined || /^(an?|one)$/i.test(n)) return 1;
  return Number(n);
}

const UNIT_WORD: Record<string, string> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

function intervalSpec(n: string | undefined, unit: string): WhenSpec {
  const key = unitKey(unit);
  const k = count(n);
  if (key === 'd' || key === 'w' || key === 'mo' || key === 'y') {
    if (key === 'd' && k === 1) needTime('every day at 9:00');
    if (key === 'w' && k === 1) needTime('every monday at 10:00');
    throw new InvalidInputError(
      `Intervals of ${UNIT_WORD[key]}s are not supported; say e.g. "every day at 9:00", "every monday at 10:00", or give a cron expression such as "0 9 1 * *" (09:00 on the 1st of each month).`,
    );
  }
  const everyMs = Math.round(k * UNIT_MS[key]!);
  if (!Number.isFinite(everyMs) || everyMs < MIN_EVERY_MS) {
    throw new InvalidInputError(`The interval must be at least 1 second; "every ${n ?? ''} ${unit}" is refused.`);
  }
  const word = UNIT_WORD[key]!;
  return { kind: 'every', everyMs, description: k === 1 ? `every ${word}` : `every ${k} ${word}s` };
}

function clockDescription(c: ClockTime): string {
  const pad = (x: number) => String(x).padStart(2, '0');
  return `${pad(c.hour)}:${pad(c.minute)}${c.second ? `:${pad(c.second)}` : ''}`;
}

function cronAt(c: ClockTime, dayOfWeek: string): string {
  return `${c.second ? `${c.second} ` : ''}${c.minute} ${c.hour} * * ${dayOfWeek}`;
}

function weeklySpec(label: string, dayOfWeek: string, time: string | undefined): WhenSpec {
  if (!time) needTime(`${label} at 9:00`);
  const c = parseClock(time);
  return { kind: 'every', pattern: cronAt(c, dayOfWeek), description: `${label} at ${clockDescription(c)}` };
}

function dayIndex(name: string): number {
  const i = DAY_NAMES.findIndex((d) => d.startsWith(name.toLowerCase().slice(0, 3)));
  if (i < 0) throw new InvalidInputError(`"${name}" is not a day of the week.`);
  return i;
}

function daysSpec(list: string, time: string | undefined): WhenSpec {
  const days = [
    ...new Set(
      list
        .toLowerCase()
        .split(/\s*,\s*(?:and\s+)?|\s+and\s+/)
        .map(dayIndex),
    ),
  ].sort((a, b) => a - b);
  const names = days.map((d) => DAY_NAMES[d]![0]!.toUpperCase() + DAY_NAMES[d]!.slice(1));
  const label = `every ${names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`}`;
  if (!time) needTime(`every ${DAY_NAMES[days[0]!]} at 10:00`);
  const c = parseClock(time);
  return { kind: 'every', pattern: cronAt(c, days.join(',')), description: `${label} at ${clockDescription(c)}` };
}

function cronSpec(expr: string, ctx: WhenContext): WhenSpec {
  const pattern = expr.trim().replace(/\s+/g, ' ');
  try {
    CronExpressionParser.parse(pattern, { tz: ctx.zone, currentDate: ctx.now }).next();
  } catch (err) {
    throw new InvalidInputError(
      `"${pattern}" is not a cron expression I can run (${(err as Error).message}). Use 5 fields: minute hour day-of-month month day-of-week, e.g. "0 9 * * 1-5" for 09:00 on weekdays.`,
    );
  }
  return { kind: 'every', pattern, description: `cron "${pattern}"` };
}

function inSpec(text: string, ctx: WhenContext): WhenSpec {
  const dur: DurationLikeObject = {};
  const add = (key: keyof DurationLikeObject, n: number) => {
    dur[key] = (dur[key] ?? 0) + n;
  };
  if (/^half\s+an?\s+hour$/i.test(text)) add('minutes', 30);
  else {
    const part = new RegExp(`\\b(\\d+(?:\\.\\d+)?|an?|one)\\s*(${UNIT})`, 'gi');
    for (const m of text.replace(/\band\b/gi, ' ').matchAll(part)) {
      const n = count(m[1]);
      const key = unitKey(m[2]!);
      const name = (
        { s: 'seconds', m: 'minutes', h: 'hours', d: 'days', w: 'weeks', mo: 'months', y: 'years' } as const
      )[key];
      add(name, n);
    }
  }
  const d = Duration.fromObject(dur);
  if (!d.isValid || d.toMillis() <= 0)
    throw new InvalidInputError('Say a delay of at least one second, e.g. "in 30 minutes".');
  // Calendar units (days and up) keep the wall-clock time across DST changes; hours and below are exact.
  return future(nowIn(ctx).plus(d), ctx);
}

function relDaySpec(rel: string, time: string | undefined, ctx: WhenContext): WhenSpec {
  const r = rel.toLowerCase();
  const offset = r === 'today' ? 0 : r === 'tomorrow' ? 1 : -1;
  if (!time) {
    if (offset < 0) throw new InvalidInputError('That time has already passed. Pick a time in the future.');
    needTime(`${r} 9:00`);
  }
  return future(at(nowIn(ctx).plus({ days: offset }), parseClock(time), ctx.zone), ctx, r);
}

function weekdaySpec(day: string, next: boolean, time: string | undefined, ctx: WhenContext): WhenSpec {
  const target = dayIndex(day);
  const name = DAY_NAMES[target]!;
  if (!time) needTime(`${name} 9:00`);
  const clock = parseClock(time);
  const today = nowIn(ctx);
  let ahead = (target - (today.weekday % 7) + 7) % 7;
  if (next && ahead === 0) ahead = 7;
  let dt = at(today.plus({ days: ahead }), clock, ctx.zone);
  if (dt.toMillis() <= ctx.now.getTime()) dt = at(today.plus({ days: ahead + 7 }), clock, ctx.zone);
  return future(dt, ctx);
}

function isoSpec(text: string, ctx: WhenContext): WhenSpec {
  const m = /^(\d{4})-(\d\d)-(\d\d)(?:(?:t|\s+(?:at\s+)?)(.+?))?(z|[+-]\d\d(?::?\d\d)?)?$/i.exec(text.trim());
  if (!m) throw new InvalidInputError(`"${text}" is not a date I can read; use e.g. 2030-12-24T09:00.`);
  const clock = m[4] ? parseClockOrIso(m[4]) : { hour: 0, minute: 0, second: 0, millisecond: 0 };
  const zone = m[5]
    ? m[5].toLowerCase() === 'z'
      ? 'UTC'
      : `UTC${m[5].length === 3 ? m[5] : `${m[5].slice(0, 3)}:${m[5].slice(-2)}`}`
    : ctx.zone;
  const dt = DateTime.fromObject({ year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), ...clock }, { zone });
  return future(dt.setZone(ctx.zone), ctx);
}

function parseClockOrIso(t: string): ClockTime & { millisecond: number } {
  const iso = /^(\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?$/.exec(t);
  if (iso)
    return {
      hour: Number(iso[1]),
      minute: Number(iso[2]),
      second: Number(iso[3] ?? 0),
      millisecond: Number((iso[4] ?? '0').padEnd(3, '0').slice(0, 3)),
    };
  return { ...parseClock(t), millisecond: 0 };
}

function bareTimeSpec(time: string, ctx: WhenContext): WhenSpec {
  const clock = parseClock(time);
  const today = nowIn(ctx);
  const dt = at(today, clock, ctx.zone);
  if (dt.toMillis() > ctx.now.getTime()) return future(dt, ctx, 'today');
  return future(at(today.plus({ days: 1 }), clock, ctx.zone), ctx, 'tomorrow');
}
