/**
 * A JSON Schema (draft-07) as read from JSON: an object of keywords, or `true` (anything
 * goes) / `false` (nothing does). Typed loosely because schemas arrive as imported JSON.
 */
export type JsonSchema = boolean | { readonly [keyword: string]: unknown };

/**
 * Says what is wrong with a value: `undefined` when it matches the schema, otherwise one
 * problem naming where and what, such as `progress[3].current: expected a number, got "x"`,
 * so a rejected message can be logged in words a person can act on.
 */
export type ProblemFinder = (value: unknown) => string | undefined;

/**
 * Turns a JSON Schema into a function that checks values against it. The schema is read
 * once, into plain closures (no code is generated at run time, which the app's Content
 * Security Policy forbids), so checking a large message costs a walk over the value and
 * nothing more.
 *
 * Only the keywords the generated protocol schema uses are understood: `$ref` (a JSON
 * pointer into the same document), `type`, `const`, `enum`, `properties`, `required`,
 * `additionalProperties`, `items` (one schema for every element) and `anyOf`. Any other
 * keyword throws here, unless it only annotates (`description`, `title`, ...): a schema
 * that grows a constraint this module does not check must fail loudly rather than let
 * values through unchecked.
 *
 * An `anyOf` whose branches are objects that each pin one and the same required property
 * to a different `const` (a tagged union, like the protocol's `type` or `kind`) picks the
 * branch from that property instead of trying them all, and names an unknown tag as such.
 * Numbers must be finite: JSON cannot carry NaN or Infinity, so neither is a number here.
 */
export function compileSchema(schema: JsonSchema): ProblemFinder {
  if (typeof schema === 'object' && schema !== null && '$schema' in schema) {
    const dialect = schema.$schema;
    if (typeof dialect !== 'string' || !SUPPORTED_DIALECTS.has(dialect.replace(/#$/, ''))) {
      throw new SchemaCompileError(`unsupported JSON Schema dialect ${String(dialect)}; only draft-07 is understood`, '#');
    }
  }
  const compiler = new Compiler(schema);
  const root = compiler.compile(schema, '#', undefined, true);
  const check = root.check;
  return (value) => {
    const failure = check(value);
    return failure === undefined ? undefined : formatFailure(failure);
  };
}

/** Why a schema could not be compiled, and where in it (a JSON pointer such as `#/definitions/JobView`). */
export class SchemaCompileError extends Error {
  override name = 'SchemaCompileError';

  constructor(
    problem: string,
    readonly pointer: string,
  ) {
    super(`${problem} (at ${pointer})`);
  }
}

const SUPPORTED_DIALECTS = new Set(['http://json-schema.org/draft-07/schema', 'https://json-schema.org/draft-07/schema']);

/** Keywords that describe a schema without constraining values, so they are skipped. */
const ANNOTATIONS = new Set([
  'title',
  'description',
  'markdownDescription',
  '$comment',
  'default',
  'examples',
  'deprecated',
  'readOnly',
  'writeOnly',
  // Only reached through `$ref`, which compiles what it points at.
  'definitions',
  '$defs',
]);

/** Keywords allowed only on the whole document. */
const ROOT_ONLY = new Set(['$schema', '$id']);

const CONSTRAINTS = new Set(['$ref', 'type', 'const', 'enum', 'properties', 'required', 'additionalProperties', 'items', 'anyOf']);

/** A JSON value's kind, as `type` and `anyOf` see it (an integer is a number). */
type Kind = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object' | 'other';

type PathSegment = string | number;

/**
 * What went wrong and where. The path is built on the way back up from the failing value,
 * innermost segment first, so a value that passes never pays for a path.
 */
interface Failure {
  readonly reversedPath: PathSegment[];
  readonly message: string;
}

type Check = (value: unknown) => Failure | undefined;

interface Compiled {
  readonly check: Check;
  /** The kinds of value that can pass; `null` when any kind might. */
  readonly kinds: ReadonlySet<Kind> | null;
}

const pass: Check = () => undefined;

function fail(message: string): Failure {
  return { reversedPath: [], message };
}

const hasOwn = (record: object, key: string): boolean => Object.prototype.hasOwnProperty.call(record, key);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function kindOf(value: unknown): Kind {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return 'boolean';
    case 'number':
      return Number.isFinite(value) ? 'number' : 'other';
    case 'string':
      return 'string';
    case 'object':
      return Array.isArray(value) ? 'array' : 'object';
    default:
      return 'other';
  }
}

const TYPE_NAMES = ['null', 'boolean', 'number', 'integer', 'string', 'array', 'object'] as const;
type TypeName = (typeof TYPE_NAMES)[number];

const TYPE_PHRASES: Record<TypeName, string> = {
  null: 'null',
  boolean: 'a boolean',
  number: 'a number',
  integer: 'an integer',
  string: 'a string',
  array: 'an array',
  object: 'an object',
};

const TYPE_TESTS: Record<TypeName, (value: unknown) => boolean> = {
  null: (value) => value === null,
  boolean: (value) => typeof value === 'boolean',
  number: (value) => typeof value === 'number' && Number.isFinite(value),
  integer: (value) => Number.isInteger(value),
  string: (value) => typeof value === 'string',
  array: (value) => Array.isArray(value),
  object: isRecord,
};

const KIND_PHRASES: Record<Kind, string> = { ...TYPE_PHRASES, other: 'something else' };

/** Joins phrases the way a sentence lists them: "a, b or c". */
function orList(phrases: readonly string[]): string {
  if (phrases.length <= 1) return phrases[0] ?? 'nothing';
  return `${phrases.slice(0, -1).join(', ')} or ${phrases[phrases.length - 1]}`;
}

const QUOTED_STRING_LIMIT = 60;

/** A value as a problem quotes it: strings and numbers as they are, containers by kind. */
function describe(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string': {
      const quoted = JSON.stringify(value);
      return quoted.length > QUOTED_STRING_LIMIT ? `${quoted.slice(0, QUOTED_STRING_LIMIT - 2)}…"` : quoted;
    }
    case 'number':
    case 'boolean':
      return String(value);
    case 'bigint':
      return `${value}n`;
    case 'undefined':
      return 'undefined';
    case 'object':
      return Array.isArray(value) ? 'an array' : 'an object';
    default:
      return `a ${typeof value}`;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function formatFailure(failure: Failure): string {
  let path = '';
  for (let index = failure.reversedPath.length - 1; index >= 0; index -= 1) {
    const segment = failure.reversedPath[index];
    if (typeof segment === 'number') path += `[${segment}]`;
    else if (segment !== undefined && IDENTIFIER.test(segment)) path += path === '' ? segment : `.${segment}`;
    else path += `[${JSON.stringify(segment)}]`;
  }
  return path === '' ? failure.message : `${path}: ${failure.message}`;
}

/** "ServerMessage" → "server message", so a definition's name reads as words in a problem. */
function words(definitionName: string): string {
  return definitionName
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .toLowerCase();
}

type Primitive = string | number | boolean | null;

function isPrimitive(value: unknown): value is Primitive {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

function intersect(left: ReadonlySet<Kind> | null, right: ReadonlySet<Kind> | null): ReadonlySet<Kind> | null {
  if (left === null) return right;
  if (right === null) return left;
  return new Set([...left].filter((kind) => right.has(kind)));
}

/** Runs checks in order and reports the first failure. */
function sequence(checks: readonly Check[]): Check {
  if (checks.length === 0) return pass;
  if (checks.length === 1) return checks[0] ?? pass;
  if (checks.length === 2) {
    const [first, second] = checks as [Check, Check];
    return (value) => first(value) ?? second(value);
  }
  return (value) => {
    for (let index = 0; index < checks.length; index += 1) {
      const failure = (checks[index] as Check)(value);
      if (failure !== undefined) return failure;
    }
    return undefined;
  };
}

interface Field {
  readonly name: string;
  /** Passes anything for a required name that has no schema of its own: only its presence counts. */
  readonly check: Check;
  readonly required: boolean;
  /** The name is also a property of every object (`constructor`, `toString`), so presence is read with hasOwn. */
  readonly inherited: boolean;
}

class Compiler {
  private readonly compiledRefs = new Map<string, Compiled>();
  /** Refs being compiled, for schemas that refer to themselves: filled in once done. */
  private readonly pendingRefs = new Map<string, { check: Check }>();

  constructor(private readonly document: JsonSchema) {}

  compile(schema: unknown, pointer: string, definitionName: string | undefined, isRoot = false): Compiled {
    if (schema === true) return { check: pass, kinds: null };
    if (schema === false) return { check: () => fail('no value is allowed here'), kinds: new Set() };
    if (!isRecord(schema)) throw new SchemaCompileError('a schema must be an object or a boolean', pointer);

    for (const keyword of Object.keys(schema)) {
      if (CONSTRAINTS.has(keyword) || ANNOTATIONS.has(keyword)) continue;
      if (ROOT_ONLY.has(keyword) && isRoot) continue;
      throw new SchemaCompileError(`unsupported JSON Schema keyword "${keyword}"`, pointer);
    }

    if ('$ref' in schema) {
      const beside = Object.keys(schema).filter((keyword) => CONSTRAINTS.has(keyword) && keyword !== '$ref');
      if (beside.length > 0) {
        // Draft-07 ignores every keyword next to $ref; honouring them or not would both surprise.
        throw new SchemaCompileError(`keywords beside $ref are not supported: ${beside.join(', ')}`, pointer);
      }
      return this.compileRef(schema.$ref, pointer);
    }

    const checks: Check[] = [];
    let kinds: ReadonlySet<Kind> | null = null;

    if ('type' in schema) {
      const compiled = compileType(schema.type, `${pointer}/type`);
      checks.push(compiled.check);
      kinds = intersect(kinds, compiled.kinds);
    }
    if ('const' in schema) {
      const compiled = compileConst(schema.const, `${pointer}/const`);
      checks.push(compiled.check);
      kinds = intersect(kinds, compiled.kinds);
    }
    if ('enum' in schema) {
      const compiled = compileEnum(schema.enum, `${pointer}/enum`);
      checks.push(compiled.check);
      kinds = intersect(kinds, compiled.kinds);
    }
    if ('properties' in schema || 'required' in schema || 'additionalProperties' in schema) {
      checks.push(this.compileObject(schema, pointer));
    }
    if ('items' in schema) {
      checks.push(this.compileItems(schema.items, `${pointer}/items`));
    }
    if ('anyOf' in schema) {
      const compiled = this.compileAnyOf(schema.anyOf, `${pointer}/anyOf`, definitionName);
      checks.push(compiled.check);
      kinds = intersect(kinds, compiled.kinds);
    }
    return { check: sequence(checks), kinds };
  }

  private compileRef(ref: unknown, pointer: string): Compiled {
    if (typeof ref !== 'string') throw new SchemaCompileError('$ref must be a string', pointer);
    const done = this.compiledRefs.get(ref);
    if (done !== undefined) return done;
    const pending = this.pendingRefs.get(ref);
    if (pending !== undefined) return { check: (value) => pending.check(value), kinds: null };

    const { target, name } = this.resolve(ref, pointer);
    const box = { check: pass };
    this.pendingRefs.set(ref, box);
    const compiled = this.compile(target, ref, name);
    box.check = compiled.check;
    this.pendingRefs.delete(ref);
    this.compiledRefs.set(ref, compiled);
    return compiled;
  }

  /** Follows a `#/...` JSON pointer within the document; other documents are not fetched. */
  private resolve(ref: string, pointer: string): { target: unknown; name: string | undefined } {
    if (!ref.startsWith('#')) throw new SchemaCompileError(`$ref "${ref}" points outside this document`, pointer);
    const segments =
      ref === '#' || ref === '#/'
        ? []
        : ref
            .slice(2)
            .split('/')
            .map((segment) => decodeURIComponent(segment).replace(/~1/g, '/').replace(/~0/g, '~'));
    let target: unknown = this.document;
    for (const segment of segments) {
      if (!isRecord(target) || !hasOwn(target, segment)) {
        throw new SchemaCompileError(`$ref "${ref}" points at nothing`, pointer);
      }
      target = target[segment];
    }
    return { target, name: segments[segments.length - 1] };
  }

  /** Follows $ref until a schema that is not one, for looking into branches before compiling them. */
  private dereference(schema: unknown, pointer: string): unknown {
    const seen = new Set<string>();
    let current = schema;
    while (isRecord(current) && typeof current.$ref === 'string') {
      if (seen.has(current.$ref)) return undefined;
      seen.add(current.$ref);
      current = this.resolve(current.$ref, pointer).target;
    }
    return current;
  }

  private compileObject(schema: Readonly<Record<string, unknown>>, pointer: string): Check {
    const properties = schema.properties ?? {};
    if (!isRecord(properties)) throw new SchemaCompileError('properties must be an object', `${pointer}/properties`);
    const required = schema.required ?? [];
    if (!Array.isArray(required) || !required.every((name) => typeof name === 'string')) {
      throw new SchemaCompileError('required must be an array of names', `${pointer}/required`);
    }
    const requiredNames = new Set<string>(required);

    const fields: Field[] = Object.entries(properties).map(([name, propertySchema]) => ({
      name,
      check: this.compile(propertySchema, `${pointer}/properties/${escapePointer(name)}`, undefined).check,
      required: requiredNames.has(name),
      inherited: name in Object.prototype,
    }));
    for (const name of requiredNames) {
      if (!hasOwn(properties, name)) fields.push({ name, check: pass, required: true, inherited: name in Object.prototype });
    }

    const additional = 'additionalProperties' in schema ? schema.additionalProperties : true;
    const additionalCheck = additional === true ? null : this.compile(additional, `${pointer}/additionalProperties`, undefined).check;
    const known = new Set(Object.keys(properties));

    return (value) => {
      // Like every object keyword, these say nothing about values that are not objects.
      if (!isRecord(value)) return undefined;
      for (let index = 0; index < fields.length; index += 1) {
        const field = fields[index] as Field;
        const fieldValue = field.inherited && !hasOwn(value, field.name) ? undefined : value[field.name];
        if (fieldValue === undefined) {
          if (field.required) return fail(`missing required field "${field.name}"`);
          continue;
        }
        const failure = field.check(fieldValue);
        if (failure !== undefined) {
          failure.reversedPath.push(field.name);
          return failure;
        }
      }
      if (additionalCheck !== null) {
        for (const name of Object.keys(value)) {
          if (known.has(name)) continue;
          const failure = additionalCheck(value[name]);
          if (failure !== undefined) {
            if (additional === false) return fail(`unexpected field "${name}"`);
            failure.reversedPath.push(name);
            return failure;
          }
        }
      }
      return undefined;
    };
  }

  private compileItems(items: unknown, pointer: string): Check {
    if (Array.isArray(items)) throw new SchemaCompileError('items as an array of schemas (a tuple) is not supported', pointer);
    const check = this.compile(items, pointer, undefined).check;
    return (value) => {
      if (!Array.isArray(value)) return undefined;
      for (let index = 0; index < value.length; index += 1) {
        const failure = check(value[index]);
        if (failure !== undefined) {
          failure.reversedPath.push(index);
          return failure;
        }
      }
      return undefined;
    };
  }

  private compileAnyOf(anyOf: unknown, pointer: string, definitionName: string | undefined): Compiled {
    if (!Array.isArray(anyOf) || anyOf.length === 0) throw new SchemaCompileError('anyOf must be a non-empty array', pointer);
    const branches = anyOf.map((branch, index) => this.compile(branch, `${pointer}/${index}`, undefined));
    const kinds = branches.some((branch) => branch.kinds === null)
      ? null
      : new Set(branches.flatMap((branch) => [...(branch.kinds ?? [])]));

    const tag = this.findTag(anyOf, pointer);
    if (tag !== undefined) {
      return { check: tagDispatch(tag, branches, definitionName), kinds };
    }

    const expected = orList([...(kinds ?? [])].map((kind) => KIND_PHRASES[kind]));
    const check: Check = (value) => {
      const kind = kindOf(value);
      let firstFailure: Failure | undefined;
      for (let index = 0; index < branches.length; index += 1) {
        const branch = branches[index] as Compiled;
        // A branch that cannot take this kind of value is not worth running, nor worth quoting.
        if (branch.kinds !== null && !branch.kinds.has(kind)) continue;
        const failure = branch.check(value);
        if (failure === undefined) return undefined;
        firstFailure ??= failure;
      }
      return firstFailure ?? fail(`expected ${expected}, got ${describe(value)}`);
    };
    return { check, kinds };
  }

  /**
   * The property every branch pins to its own `const`, when the branches are a tagged
   * union: each is an object schema requiring that property, and no two share a value.
   */
  private findTag(anyOf: readonly unknown[], pointer: string): Tag | undefined {
    const branches = anyOf.map((branch) => this.dereference(branch, pointer));
    const first = branches[0];
    if (!isTaggable(first)) return undefined;
    for (const property of Object.keys(first.properties)) {
      const values: Primitive[] = [];
      for (const branch of branches) {
        const value = constOf(branch, property);
        if (value === undefined || values.includes(value)) break;
        values.push(value);
      }
      if (values.length === branches.length) return { property, values };
    }
    return undefined;
  }
}

interface Tag {
  readonly property: string;
  /** The tag of each branch, in branch order. */
  readonly values: readonly Primitive[];
}

function isTaggable(schema: unknown): schema is { type: 'object'; properties: Record<string, unknown>; required: unknown[] } {
  return isRecord(schema) && schema.type === 'object' && isRecord(schema.properties) && Array.isArray(schema.required);
}

/** The value a branch pins `property` to, if it is a required property with a `const`. */
function constOf(branch: unknown, property: string): Primitive | undefined {
  if (!isTaggable(branch) || !branch.required.includes(property)) return undefined;
  const propertySchema = branch.properties[property];
  if (!isRecord(propertySchema) || !('const' in propertySchema) || !isPrimitive(propertySchema.const)) return undefined;
  return propertySchema.const;
}

function tagDispatch(tag: Tag, branches: readonly Compiled[], definitionName: string | undefined): Check {
  const byTag = new Map<unknown, Check>();
  tag.values.forEach((value, index) => byTag.set(value, branches[index]?.check ?? pass));
  const { property } = tag;
  const subject = definitionName === undefined ? property : `${words(definitionName)} ${property}`;
  const inherited = property in Object.prototype;
  return (value) => {
    if (!isRecord(value)) return fail(`expected an object, got ${describe(value)}`);
    const tagValue = inherited && !hasOwn(value, property) ? undefined : value[property];
    if (tagValue === undefined) return fail(`missing required field "${property}"`);
    const branch = byTag.get(tagValue);
    if (branch === undefined) return fail(`unknown ${subject} ${describe(tagValue)}`);
    return branch(value);
  };
}

function escapePointer(name: string): string {
  return name.replace(/~/g, '~0').replace(/\//g, '~1');
}

function compileType(type: unknown, pointer: string): Compiled {
  const names = Array.isArray(type) ? type : [type];
  if (names.length === 0 || !names.every((name): name is TypeName => (TYPE_NAMES as readonly unknown[]).includes(name))) {
    throw new SchemaCompileError(`type must be one of ${TYPE_NAMES.join(', ')}, or an array of them`, pointer);
  }
  const kinds = new Set<Kind>(names.map((name) => (name === 'integer' ? 'number' : name)));
  const expected = `expected ${orList(names.map((name) => TYPE_PHRASES[name]))}, got `;
  const mismatch = (value: unknown) => fail(expected + describe(value));

  if (names.length === 1) {
    // One closure per type, so the common case is a single inline test.
    switch (names[0]) {
      case 'string':
        return { check: (value) => (typeof value === 'string' ? undefined : mismatch(value)), kinds };
      case 'number':
        return { check: (value) => (typeof value === 'number' && Number.isFinite(value) ? undefined : mismatch(value)), kinds };
      case 'integer':
        return { check: (value) => (Number.isInteger(value) ? undefined : mismatch(value)), kinds };
      case 'boolean':
        return { check: (value) => (typeof value === 'boolean' ? undefined : mismatch(value)), kinds };
      case 'null':
        return { check: (value) => (value === null ? undefined : mismatch(value)), kinds };
      case 'array':
        return { check: (value) => (Array.isArray(value) ? undefined : mismatch(value)), kinds };
      case 'object':
        return { check: (value) => (isRecord(value) ? undefined : mismatch(value)), kinds };
    }
  }
  const tests = names.map((name) => TYPE_TESTS[name]);
  return {
    check: (value) => {
      for (let index = 0; index < tests.length; index += 1) if ((tests[index] as (value: unknown) => boolean)(value)) return undefined;
      return mismatch(value);
    },
    kinds,
  };
}

function compileConst(constant: unknown, pointer: string): Compiled {
  if (!isPrimitive(constant)) throw new SchemaCompileError('const must be a string, a number, a boolean or null', pointer);
  const expected = `expected ${describe(constant)}, got `;
  return {
    check: (value) => (value === constant ? undefined : fail(expected + describe(value))),
    kinds: new Set([kindOf(constant)]),
  };
}

function compileEnum(values: unknown, pointer: string): Compiled {
  if (!Array.isArray(values) || values.length === 0 || !values.every(isPrimitive)) {
    throw new SchemaCompileError('enum must be a non-empty array of strings, numbers, booleans or null', pointer);
  }
  const allowed = new Set<unknown>(values);
  const expected = `expected one of ${values.map(describe).join(', ')}, got `;
  return {
    check: (value) => (allowed.has(value) ? undefined : fail(expected + describe(value))),
    kinds: new Set(values.map(kindOf)),
  };
}
