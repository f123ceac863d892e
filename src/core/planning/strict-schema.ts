// Turns a capability's input JSON schema into one a strict structured-output mode accepts, and maps the model's
// answer back: strict mode needs every property required (optional ones become nullable) and closed objects, and
// knows only some keywords. The capability's own schema (validated afterwards with ajv) stays the authority.

type Schema = Record<string, unknown>;

/** Keywords strict mode does not take; they are dropped here and still enforced by the real schema afterwards. */
const UNSUPPORTED = new Set([
  '$schema',
  '$id',
  // Also zod's registry key: a top-level `id` in .meta() would be kept in a global map.
  'id',
  'default',
  'examples',
  'minLength',
  'maxLength',
  'minProperties',
  'maxProperties',
  'uniqueItems',
  'contentEncoding',
  'contentMediaType',
  'readOnly',
  'writeOnly',
  'not',
  'if',
  'then',
  'else',
  'dependentRequired',
  'dependentSchemas',
  'patternProperties',
  'propertyNames',
  'unevaluatedProperties',
]);

const isObj = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A nullable version of a schema (for a property that was optional). */
function nullable(s: Schema): Schema {
  const t = s.type;
  if (typeof t === 'string') return { ...s, type: t === 'null' ? t : [t, 'null'] };
  if (Array.isArray(t)) return t.includes('null') ? s : { ...s, type: [...t, 'null'] };
  if (Array.isArray(s.enum)) return { anyOf: [s, { type: 'null' }] };
  return { anyOf: [s, { type: 'null' }] };
}

/**
 * The strict-mode form of a JSON schema: objects closed with every property required (optional ones nullable),
 * unsupported keywords dropped, a constraint that was dropped kept as a hint in the description. An object with no
 * declared properties (a free-form map) cannot be expressed in strict mode and becomes a JSON string.
 */
export function toStrictSchema(schema: unknown): Schema {
  if (!isObj(schema)) return { type: 'string', description: 'JSON text' };
  const out: Schema = {};
  const hints: string[] = [];
  for (const [k, v] of Object.entries(schema)) {
    if (UNSUPPORTED.has(k)) {
      if (k === 'minLength' || k === 'maxLength' || k === 'default') hints.push(`${k} ${JSON.stringify(v)}`);
      continue;
    }
    if (k === 'properties' || k === 'required' || k === 'additionalProperties') continue;
    if (k === 'items') out.items = Array.isArray(v) ? { anyOf: v.map(toStrictSchema) } : toStrictSchema(v);
    else if (k === 'prefixItems' && Array.isArray(v)) out.items = { anyOf: v.map(toStrictSchema) };
    else if ((k === 'anyOf' || k === 'oneOf' || k === 'allOf') && Array.isArray(v))
      out[k === 'oneOf' ? 'anyOf' : k] = v.map(toStrictSchema);
    else if (k === '$defs' && isObj(v))
      out.$defs = Object.fromEntries(Object.entries(v).map(([n, d]) => [n, toStrictSchema(d)]));
    else out[k] = v;
  }
  const isObject = schema.type === 'object' || isObj(schema.properties);
  if (isObject) {
    const props = isObj(schema.properties) ? schema.properties : {};
    if (Object.keys(props).length === 0) return { type: 'string', description: 'a JSON object, as text' };
    const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
    out.type = 'object';
    out.properties = Object.fromEntries(
      Object.entries(props).map(([name, p]) => {
        const strict = toStrictSchema(p);
        return [name, required.has(name) ? strict : nullable(strict)];
      }),
    );
    out.required = Object.keys(props);
    out.additionalProperties = false;
  }
  if (hints.length) out.description = [out.description, `(${hints.join(', ')})`].filter(Boolean).join(' ');
  return out;
}

/**
 * Maps a strict-mode answer back to the original schema's shape: a null given for an optional property is
 * removed, a field the schema does not declare is dropped, and a JSON-string stand-in for a free-form object is
 * parsed. Anything else is left for validation.
 */
export function fromStrictValue(value: unknown, schema: unknown): unknown {
  if (!isObj(schema)) return value;
  const isObject = schema.type === 'object' || isObj(schema.properties);
  if (isObject) {
    const props = isObj(schema.properties) ? schema.properties : {};
    if (Object.keys(props).length === 0 && typeof value === 'string') {
      try {
        return JSON.parse(value);
      } catch {
        return value;
      }
    }
    if (!isObj(value)) return value;
    const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
    const closed = schema.additionalProperties === undefined || schema.additionalProperties === false;
    const out: Schema = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === null && !required.has(k)) continue;
      if (closed && !(k in props)) continue;
      out[k] = k in props ? fromStrictValue(v, props[k]) : v;
    }
    return out;
  }
  if (Array.isArray(value) && isObj(schema.items)) return value.map((v) => fromStrictValue(v, schema.items));
  return value;
}
