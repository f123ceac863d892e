// "When" phrases: one-shot and recurring forms, zones and DST, the request splitter, and clear refusals.
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../src/core/errors.ts';
import {
  canonicalZone,
  nextRunOf,
  parseClock,
  parseWhen,
  splitScheduleRequest,
  type WhenSpec,
} from '../src/core/schedules/time-spec.ts';

// Friday 28 March 2025, 10:15 UTC (11:15 in Berlin, 06:15 in New York). Berlin's clocks go forward on Sunday 30 March.
const FRI = new Date('2025-03-28T10:15:00Z');
const at = (when: string, zone: string, now = FRI): string => {
  const spec = parseWhen(when, { now, zone });
  if (spec.kind !== 'at') throw new Error(`${when} is not one-shot`);
  return spec.runAt.toISOString();
};

describe('parseWhen: one-shot times', () => {
  it.each([
    // [phrase, zone, expected instant]
    ['in 2 hours', 'UTC', '2025-03-28T12:15:00.000Z'],
    ['in 30 minutes', 'Europe/Berlin', '2025-03-28T10:45:00.000Z'],
    ['in 45 seconds', 'UTC', '2025-03-28T10:15:45.000Z'],
    ['in 1 hour and 30 minutes', 'UTC', '2025-03-28T11:45:00.000Z'],
    ['in 1h 30m', 'UTC', '2025-03-28T11:45:00.000Z'],
    ['in an hour', 'UTC', '2025-03-28T11:15:00.000Z'],
    ['in half an hour', 'UTC', '2025-03-28T10:45:00.000Z'],
    ['tomorrow 9:00', 'UTC', '2025-03-29T09:00:00.000Z'],
    ['tomorrow 9:00', 'Europe/Berlin', '2025-03-29T08:00:00.000Z'],
    ['at tomorrow 9:00', 'America/New_York', '2025-03-29T13:00:00.000Z'],
    ['tomorrow at 9am', 'UTC', '2025-03-29T09:00:00.000Z'],
    ['9:30 pm tomorrow', 'UTC', '2025-03-29T21:30:00.000Z'],
    ['today 17:00', 'UTC', '2025-03-28T17:00:00.000Z'],
    ['today at 17:00', 'Europe/Berlin', '2025-03-28T16:00:00.000Z'],
    ['at 14:30', 'UTC', '2025-03-28T14:30:00.000Z'],
    ['at 14:30', 'Europe/Berlin', '2025-03-28T13:30:00.000Z'],
    // A bare time already past today means tomorrow.
    ['at 9:00', 'UTC', '2025-03-29T09:00:00.000Z'],
    ['at 9', 'UTC', '2025-03-29T09:00:00.000Z'],
    ['noon', 'UTC', '2025-03-28T12:00:00.000Z'],
    ['at midnight', 'UTC', '2025-03-29T00:00:00.000Z'],
    ['9 a.m.', 'Europe/Berlin', '2025-03-29T08:00:00.000Z'],
    ['12am tomorrow', 'UTC', '2025-03-29T00:00:00.000Z'],
    // Weekdays: the next one (today if still ahead); "next" never means today.
    ['monday 08:30', 'UTC', '2025-03-31T08:30:00.000Z'],
    ['on monday at 08:30', 'Europe/Berlin', '2025-03-31T06:30:00.000Z'],
    ['mon 8:30', 'America/New_York', '2025-03-31T12:30:00.000Z'],
    ['friday 12:00', 'UTC', '2025-03-28T12:00:00.000Z'],
    ['friday 9:00', 'UTC', '2025-04-04T09:00:00.000Z'],
    ['next friday 12:00', 'UTC', '2025-04-04T12:00:00.000Z'],
    ['10:00 on saturday', 'UTC', '2025-03-29T10:00:00.000Z'],
    // ISO-8601: local to the zone unless it carries an offset.
    ['2025-04-01T09:00', 'Europe/Berlin', '2025-04-01T07:00:00.000Z'],
    ['2025-04-01T09:00Z', 'Europe/Berlin', '2025-04-01T09:00:00.000Z'],
    ['2025-04-01T09:00:00+05:30', 'UTC', '2025-04-01T03:30:00.000Z'],
    ['2025-04-01 09:00', 'UTC', '2025-04-01T09:00:00.000Z'],
    ['on 2025-04-01 at 9pm', 'UTC', '2025-04-01T21:00:00.000Z'],
    ['2025-04-01', 'UTC', '2025-04-01T00:00:00.000Z'],
    // Case and spacing do not matter.
    ['  Tomorrow   AT  9:00 ', 'UTC', '2025-03-29T09:00:00.000Z'],
  ])('%s (%s) -> %s', (when, zone, expected) => {
    expect(at(when, zone)).toBe(expected);
  });

  it('describes the time in the user zone', () => {
    const spec = parseWhen('tomorrow 9:00', { now: FRI, zone: 'Europe/Berlin' });
    expect(spec.description).toBe('tomorrow, Sat 29 Mar 2025 at 09:00 (Europe/Berlin)');
  });
});

describe('parseWhen: DST in Europe/Berlin (clocks forward 30 Mar, back 26 Oct 2025)', () => {
  const SAT = new Date('2025-03-29T10:00:00Z'); // Saturday 11:00 CET
  it.each([
    // Calendar days keep the wall-clock time; hours are exact durations.
    ['tomorrow 9:00', '2025-03-30T07:00:00.000Z'], // 09:00 CEST
    ['in 1 day', '2025-03-30T09:00:00.000Z'], // 11:00 CEST: 23 hours later
    ['in 24 hours', '2025-03-30T10:00:00.000Z'], // 12:00 CEST
    ['tomorrow 2:30', '2025-03-30T01:30:00.000Z'], // 02:30 does not exist that night: moved forward to 03:30 CEST
    ['tomorrow 3:30', '2025-03-30T01:30:00.000Z'],
    ['sunday 1:59', '2025-03-30T00:59:00.000Z'], // still CET
  ])('%s -> %s', (when, expected) => {
    expect(at(when, 'Europe/Berlin', SAT)).toBe(expected);
  });

  it('an ambiguous autumn time resolves to one real instant showing that wall-clock time', () => {
    const runAt = parseWhen('tomorrow 2:30', { now: new Date('2025-10-25T10:00:00Z'), zone: 'Europe/Berlin' });
    const local = DateTime.fromJSDate((runAt as { runAt: Date }).runAt, { zone: 'Europe/Berlin' });
    expect(local.toFormat('yyyy-MM-dd HH:mm')).toBe('2025-10-26 02:30');
  });

  it('a daily cron keeps 09:00 local across the change', () => {
    const spec = parseWhen('every day at 9:00', { now: SAT, zone: 'Europe/Berlin' });
    const first = nextRunOf(spec, { now: new Date('2025-03-29T06:00:00Z'), zone: 'Europe/Berlin' });
    const second = nextRunOf(spec, { now: first, zone: 'Europe/Berlin' });
    expect([first.toISOString(), second.toISOString()]).toEqual([
      '2025-03-29T08:00:00.000Z',
      '2025-03-30T07:00:00.000Z',
    ]);
  });
});

describe('parseWhen: recurring', () => {
  it.each<[string, Partial<WhenSpec>]>([
    ['every day at 9:00', { pattern: '0 9 * * *', description: 'every day at 09:00' }],
    ['daily at 7am', { pattern: '0 7 * * *', description: 'every day at 07:00' }],
    ['every day at 9:00:30', { pattern: '30 0 9 * * *' }],
    ['every 15 minutes', { everyMs: 900_000, description: 'every 15 minutes' }],
    ['every minute', { everyMs: 60_000, description: 'every minute' }],
    ['every hour', { everyMs: 3_600_000, description: 'every hour' }],
    ['hourly', { everyMs: 3_600_000 }],
    ['every 2 hours', { everyMs: 7_200_000, description: 'every 2 hours' }],
    ['every 2 seconds', { everyMs: 2000, description: 'every 2 seconds' }],
    ['every second', { everyMs: 1000 }],
    ['every 1.5 hours', { everyMs: 5_400_000 }],
    ['every weekday at 8:00', { pattern: '0 8 * * 1-5', description: 'every weekday at 08:00' }],
    ['weekdays at 8:15', { pattern: '15 8 * * 1-5' }],
    ['every weekend at 10:00', { pattern: '0 10 * * 0,6' }],
    ['every monday at 10:00', { pattern: '0 10 * * 1', description: 'every Monday at 10:00' }],
    ['every sunday at 18:00', { pattern: '0 18 * * 0' }],
    [
      'every mon, wed and fri at 9:30',
      { pattern: '30 9 * * 1,3,5', description: 'every Monday, Wednesday and Friday at 09:30' },
    ],
    ['every tuesday and thursday at 5pm', { pattern: '0 17 * * 2,4' }],
    ['0 9 * * 1-5', { pattern: '0 9 * * 1-5', description: 'cron "0 9 * * 1-5"' }],
    ['cron */5 * * * *', { pattern: '*/5 * * * *' }],
    ['30 8 1 * *', { pattern: '30 8 1 * *' }],
    ['0 9 * * mon-fri', { pattern: '0 9 * * mon-fri' }],
  ])('%s', (when, expected) => {
    const spec = parseWhen(when, { now: FRI, zone: 'Europe/Berlin' });
    expect(spec.kind).toBe('every');
    expect(spec).toMatchObject(expected);
  });

  it.each([
    // [phrase, zone, next run after FRI]
    ['every weekday at 8:00', 'UTC', '2025-03-31T08:00:00.000Z'], // Friday 08:00 has passed: Monday
    ['every weekday at 12:00', 'UTC', '2025-03-28T12:00:00.000Z'], // still today
    ['every weekday at 8:00', 'Europe/Berlin', '2025-03-31T06:00:00.000Z'], // Monday 08:00 CEST
    ['every monday at 10:00', 'America/New_York', '2025-03-31T14:00:00.000Z'],
    ['every saturday at 9:00', 'UTC', '2025-03-29T09:00:00.000Z'],
    ['every 15 minutes', 'UTC', '2025-03-28T10:30:00.000Z'], // an interval starts one period from now
  ])('%s in %s next runs at %s', (when, zone, expected) => {
    expect(nextRunOf(parseWhen(when, { now: FRI, zone }), { now: FRI, zone }).toISOString()).toBe(expected);
  });
});

describe('parseWhen: refusals', () => {
  it.each([
    ['at yesterday 9:00', /That time has already passed/],
    ['yesterday', /already passed/],
    ['today 9:00', /That time has already passed/],
    ['2020-01-01T09:00', /That time has already passed/],
    ['every 0 minutes', /at least 1 second.*every 0 minutes/],
    ['every 0.5 seconds', /at least 1 second/],
    ['in 0 minutes', /at least one second/],
    ['every day', /Say at what time too, e.g. "every day at 9:00"/],
    ['every monday', /every monday at 10:00/],
    ['tomorrow', /Say at what time too, e.g. "tomorrow 9:00"/],
    ['monday', /monday 9:00/],
    ['today', /today 9:00/],
    ['every 2 days', /not supported.*cron/],
    ['every week', /every monday at 10:00/],
    ['every 3 months', /not supported/],
    ['61 9 * * *', /not a cron expression I can run.*5 fields/],
    ['0 0 31 2 *', /not a cron expression/],
    ['13pm tomorrow', /I could not understand/],
    ['tomorrow 25:00', /I could not understand/],
    ['2025-02-30T09:00', /does not exist/],
    ['banana', /I could not understand when "banana" is.*in 2 hours.*every day at 9:00.*cron.*Europe\/Berlin/],
    ['', /Say when/],
  ])('%j is refused: %s', (when, message) => {
    let caught: unknown;
    try {
      parseWhen(when, { now: FRI, zone: 'Europe/Berlin' });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidInputError);
    expect((caught as Error).message).toMatch(message);
  });

  it('refuses an unknown time zone', () => {
    expect(() => parseWhen('in 2 hours', { now: FRI, zone: 'Mars/Olympus' })).toThrow(
      /not a time zone I know.*Europe\/Berlin/,
    );
  });
});

describe('splitScheduleRequest', () => {
  it.each<[string, { when: string; what: string } | null]>([
    ['every day at 9:00 summarise the news', { when: 'every day at 9:00', what: 'summarise the news' }],
    ['at tomorrow 9:00 send the report', { when: 'at tomorrow 9:00', what: 'send the report' }],
    ['in 2 hours check the build', { when: 'in 2 hours', what: 'check the build' }],
    ['in 1 hour and 30 minutes check the build', { when: 'in 1 hour and 30 minutes', what: 'check the build' }],
    ['every 2 seconds demo fail please', { when: 'every 2 seconds', what: 'demo fail please' }],
    ['Every weekday at 8:00: standup summary', { when: 'Every weekday at 8:00', what: 'standup summary' }],
    ['every monday and friday at 10 sync notes', { when: 'every monday and friday at 10', what: 'sync notes' }],
    ['tomorrow at 9 send the report', { when: 'tomorrow at 9', what: 'send the report' }],
    ['monday 08:30 plan the week', { when: 'monday 08:30', what: 'plan the week' }],
    ['0 9 * * 1-5 standup notes', { when: '0 9 * * 1-5', what: 'standup notes' }],
    ['cron */15 * * * * poll the feed', { when: 'cron */15 * * * *', what: 'poll the feed' }],
    ['2030-12-24T09:00 wish merry christmas', { when: '2030-12-24T09:00', what: 'wish merry christmas' }],
    ['at 14:30, call back', { when: 'at 14:30', what: 'call back' }],
    // Without a time the phrase is still a schedule (parseWhen then asks for the time), so it is never run at once.
    ['tomorrow send the report', { when: 'tomorrow', what: 'send the report' }],
    ['every day summarise the news', { when: 'every day', what: 'summarise the news' }],
    ['every day at 9:00', { when: 'every day at 9:00', what: '' }],
    // Not schedule phrases: ordinary requests.
    ['research this in 3 steps', null],
    ['in 3 steps research this', null],
    ['hello switchboard', null],
    ['today summarise the news', null],
    ['sat on the report', null],
    ["monday's report summary", null],
    ['noon tea ideas', null],
    ['every 5 parallel branches', null],
    ['long work sleep 5 seconds', null],
    ['', null],
  ])('%j', (text, expected) => {
    expect(splitScheduleRequest(text)).toEqual(expected);
  });

  it('every split "when" parses', () => {
    for (const text of [
      'every day at 9:00 x',
      'at tomorrow 9:00 x',
      'in 2 hours x',
      'every 2 seconds x',
      '0 9 * * 1-5 x',
      'monday 08:30 x',
    ]) {
      const split = splitScheduleRequest(text)!;
      expect(() => parseWhen(split.when, { now: FRI, zone: 'UTC' })).not.toThrow();
    }
  });
});

describe('helpers', () => {
  it.each([
    ['9:00', [9, 0, 0]],
    ['09:05:07', [9, 5, 7]],
    ['9am', [9, 0, 0]],
    ['12am', [0, 0, 0]],
    ['12pm', [12, 0, 0]],
    ['9:30 p.m.', [21, 30, 0]],
    ['noon', [12, 0, 0]],
    ['midnight', [0, 0, 0]],
    ['at 17', [17, 0, 0]],
    ['7h45', [7, 45, 0]],
  ])('parseClock(%s)', (text, [hour, minute, second]) => {
    expect(parseClock(text)).toEqual({ hour, minute, second });
  });

  it('canonicalises zones', () => {
    expect(canonicalZone('europe/berlin')).toBe('Europe/Berlin');
    expect(canonicalZone('UTC')).toBe('UTC');
    expect(canonicalZone('Mars/Olympus')).toBeNull();
    expect(canonicalZone('')).toBeNull();
    expect(canonicalZone('Europe/Berlin; DROP TABLE')).toBeNull();
  });
});
