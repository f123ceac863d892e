// SMS segment math: GSM-7 vs UCS-2, segment counts, and cutting text to a segment budget.

/** GSM 03.38 basic character set (one septet each); ESC (0x1B) is left out on purpose. */
const GSM_BASIC = new Set(
  Array.from(
    '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
  ),
);
/** GSM 03.38 extension table: two septets each (ESC + character). */
const GSM_EXTENDED = new Set(Array.from('\f^{}\\[~]|€'));

/** Single-message and per-segment capacities (septets for GSM-7, UTF-16 code units for UCS-2). */
export const SMS_LIMITS = {
  'GSM-7': { single: 160, segment: 153 },
  'UCS-2': { single: 70, segment: 67 },
} as const;

/** Twilio refuses a Body longer than this (errors 21617/21658). */
export const TWILIO_MAX_BODY_CHARS = 1600;

/** How a text is encoded on the air. */
export type SmsEncoding = keyof typeof SMS_LIMITS;

/** What sending a text costs. */
export interface SmsMeasure {
  encoding: SmsEncoding;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2). */
  units: number;
  segments: number;
}

const LOOKALIKES: Record<string, string> = {
  '\u2018': "'",
  '\u2019': "'",
  '\u201A': "'",
  '\u201B': "'",
  '\u2032': "'",
  '\u201C': '"',
  '\u201D': '"',
  '\u201E': '"',
  '\u2033': '"',
  '\u00AB': '"',
  '\u00BB': '"',
  '\u2010': '-',
  '\u2011': '-',
  '\u2012': '-',
  '\u2013': '-',
  '\u2014': '-',
  '\u2015': '-',
  '\u2212': '-',
  '\u00B7': '-',
  '\u2022': '-',
  '\u2026': '...',
  '\u00A0': ' ',
  '\u2009': ' ',
  '\u202F': ' ',
  '\t': ' ',
};

/** Replaces typographic lookalikes (curly quotes, dashes, "·", "…") with GSM-7 characters, so one of them does not make a message UCS-2. */
export function smartEncode(text: string): string {
  return text.replace(
    /[\u2018\u2019\u201A\u201B\u2032\u201C\u201D\u201E\u2033\u00AB\u00BB\u2010-\u2015\u2212\u00B7\u2022\u2026\u00A0\u2009\u202F\t]/g,
    (c) => LOOKALIKES[c] ?? c,
  );
}

/** Whether every character of `text` is in the GSM-7 basic or extension table. */
export function isGsm7(text: string): boolean {
  for (const c of text) if (!GSM_BASIC.has(c) && !GSM_EXTENDED.has(c)) return false;
  return true;
}

/** Sizes of each character on the air: septets for GSM-7, UTF-16 code units for UCS-2 (a surrogate pair is 2 and is never split). */
function unitSizes(text: string, encoding: SmsEncoding): number[] {
  const sizes: number[] = [];
  for (const c of text) sizes.push(encoding === 'GSM-7' ? (GSM_EXTENDED.has(c) ? 2 : 1) : c.length);
  return sizes;
}

/** Encoding, size and segment count of a text, as a handset (and Twilio's num_segments) counts them. */
export function measureSms(text: string): SmsMeasure {
  const encoding: SmsEncoding = isGsm7(text) ? 'GSM-7' : 'UCS-2';
  const sizes = unitSizes(text, encoding);
  const units = sizes.reduce((a, b) => a + b, 0);
  const { single, segment } = SMS_LIMITS[encoding];
  if (units === 0) return { encoding, units, segments: 0 };
  if (units <= single) return { encoding, units, segments: 1 };
  // Concatenated: an escape sequence or a surrogate pair never straddles two segments.
  let segments = 1;
  let used = 0;
  for (const size of sizes) {
    if (used + size > segment) {
      segments += 1;
      used = 0;
    }
    used += size;
  }
  return { encoding, units, segments };
}

/** How `fitSms` may cut. */
export interface FitOptions {
  /** Most segments the message may take. */
  maxSegments: number;
  /** Appended after the ellipsis when the text is cut, on its own line (a link, or "reply STATUS id"). */
  more?: string | undefined;
  /** Most characters of the Body (default Twilio's 1600). */
  maxChars?: number | undefined;
}

/** Whether a text fits the budget. */
export function fitsSms(text: string, maxSegments: number, maxChars = TWILIO_MAX_BODY_CHARS): boolean {
  return text.length <= maxChars && measureSms(text).segments <= maxSegments;
}

/**
 * The text as sent: lookalikes replaced, and when it is over budget, cut so that the kept part, "..." and
 * `more` fill the budget up to its last segment boundary (the cut never splits a character).
 */
export function fitSms(text: string, opts: FitOptions): { text: string; cut: boolean } & SmsMeasure {
  const maxChars = opts.maxChars ?? TWILIO_MAX_BODY_CHARS;
  const whole = smartEncode(text);
  if (fitsSms(whole, opts.maxSegments, maxChars)) return { text: whole, cut: false, ...measureSms(whole) };
  const tail = `...${opts.more ? `\n${opts.more}` : ''}`;
  const chars = Array.from(whole.slice(0, maxChars + 1));
  const candidate = (k: number) => chars.slice(0, k).join('') + tail;
  const fits = (k: number) => fitsSms(candidate(k), opts.maxSegments, maxChars);
  // GSM-7 up to the first non-GSM character, UCS-2 after it: each range is monotone, so search both.
  const firstWide = chars.findIndex((c) => !GSM_BASIC.has(c) && !GSM_EXTENDED.has(c));
  const ranges: Array<[number, number]> =
    firstWide < 0
      ? [[0, chars.length]]
      : [
          [0, firstWide],
          [firstWide + 1, chars.length],
        ];
  let best = -1;
  for (const [lo, hi] of ranges) {
    const k = largestFitting(lo, hi, fits);
    if (k > best) best = k;
  }
  if (best < 0)
    return opts.more ? fitSms(text, { ...opts, more: undefined }) : { text: '', cut: true, ...measureSms('') };
  const out = candidate(best);
  return { text: out, cut: true, ...measureSms(out) };
}

/** The largest k in [lo, hi] with `fits(k)`, for a predicate that holds up to some point; -1 if none. */
function largestFitting(lo: number, hi: number, fits: (k: number) => boolean): number {
  if (!fits(lo)) return -1;
  let good = lo;
  let bad = hi + 1;
  while (bad - good > 1) {
    const mid = (good + bad) >> 1;
    if (fits(mid)) good = mid;
    else bad = mid;
  }
  return good;
}
