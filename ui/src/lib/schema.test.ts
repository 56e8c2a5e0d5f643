import { describe, expect, it } from 'vitest';
import { compileSchema, SchemaCompileError, type JsonSchema } from './schema';

/** The problem `schema` finds with `value`, or undefined when it has none. */
function problem(schema: JsonSchema, value: unknown): string | undefined {
  return compileSchema(schema)(value);
}

describe('type', () => {
  it('accepts the named type and says what it got otherwise', () => {
    expect(problem({ type: 'string' }, 'ferry')).toBeUndefined();
    expect(problem({ type: 'string' }, 7)).toBe('expected a string, got 7');
    expect(problem({ type: 'boolean' }, 'true')).toBe('expected a boolean, got "true"');
    expect(problem({ type: 'null' }, 0)).toBe('expected null, got 0');
    expect(problem({ type: 'object' }, [])).toBe('expected an object, got an array');
    expect(problem({ type: 'object' }, null)).toBe('expected an object, got null');
    expect(problem({ type: 'array' }, {})).toBe('expected an array, got an object');
  });

  it('takes an array of types', () => {
    const numberOrNull = { type: ['number', 'null'] };
    expect(problem(numberOrNull, 3.5)).toBeUndefined();
    expect(problem(numberOrNull, null)).toBeUndefined();
    expect(problem(numberOrNull, '3.5')).toBe('expected a number or null, got "3.5"');
    expect(problem({ type: ['string', 'number', 'null'] }, false)).toBe('expected a string, a number or null, got false');
  });

  it('holds numbers to what JSON can carry, and integers to whole numbers', () => {
    expect(problem({ type: 'number' }, 1.5)).toBeUndefined();
    expect(problem({ type: 'number' }, Number.NaN)).toBe('expected a number, got NaN');
    expect(problem({ type: 'number' }, Number.NEGATIVE_INFINITY)).toBe('expected a number, got -Infinity');
    expect(problem({ type: 'number' }, 'NaN')).toBe('expected a number, got "NaN"');
    expect(problem({ type: 'integer' }, 42)).toBeUndefined();
    expect(problem({ type: 'integer' }, 4.2)).toBe('expected an integer, got 4.2');
    expect(problem({ type: 'integer' }, Number.NaN)).toBe('expected an integer, got NaN');
    expect(problem({ type: ['integer', 'null'] }, null)).toBeUndefined();
  });

  it('quotes long strings in part', () => {
    const found = problem({ type: 'number' }, 'x'.repeat(500)) ?? '';
    expect(found.length).toBeLessThan(100);
    expect(found).toMatch(/^expected a number, got "x+…"$/);
  });
});

describe('const and enum', () => {
  it('const names the one value allowed', () => {
    expect(problem({ type: 'string', const: 'welcome' }, 'welcome')).toBeUndefined();
    expect(problem({ type: 'string', const: 'welcome' }, 'resume')).toBe('expected "welcome", got "resume"');
    expect(problem({ const: 3 }, '3')).toBe('expected 3, got "3"');
  });

  it('enum lists the values allowed', () => {
    const code = { type: 'string', enum: ['invalid_data', 'unknown_job'] };
    expect(problem(code, 'unknown_job')).toBeUndefined();
    expect(problem(code, 'teapot')).toBe('expected one of "invalid_data", "unknown_job", got "teapot"');
    expect(problem({ enum: [1, 'one', null] }, null)).toBeUndefined();
  });
});

describe('objects', () => {
  const totals = {
    type: 'object',
    properties: { jobs: { type: 'number' }, eta_secs: { type: ['number', 'null'] }, note: { type: 'string' } },
    required: ['jobs', 'eta_secs'],
  };

  it('checks each property and tolerates the ones it does not name', () => {
    expect(problem(totals, { jobs: 3, eta_secs: null })).toBeUndefined();
    expect(problem(totals, { jobs: 3, eta_secs: 12, note: 'retrying', added_later: [1, 2] })).toBeUndefined();
    expect(problem(totals, { jobs: '3', eta_secs: null })).toBe('jobs: expected a number, got "3"');
  });

  it('names a missing required field, and lets an optional one be left out', () => {
    expect(problem(totals, { jobs: 3 })).toBe('missing required field "eta_secs"');
    expect(problem(totals, { jobs: 3, eta_secs: null, note: 5 })).toBe('note: expected a string, got 5');
  });

  it('counts a field set to undefined as missing', () => {
    expect(problem(totals, { jobs: 3, eta_secs: undefined })).toBe('missing required field "eta_secs"');
    expect(problem(totals, { jobs: 3, eta_secs: null, note: undefined })).toBeUndefined();
  });

  it('requires names it has no schema for', () => {
    expect(problem({ type: 'object', required: ['id'] }, { id: 'anything' })).toBeUndefined();
    expect(problem({ type: 'object', required: ['id'] }, {})).toBe('missing required field "id"');
  });

  it('does not mistake what every object inherits for a field', () => {
    const schema = { type: 'object', properties: { constructor: { type: 'string' } }, required: ['constructor', 'toString'] };
    expect(problem(schema, {})).toBe('missing required field "constructor"');
    expect(problem(schema, { constructor: 'x' })).toBe('missing required field "toString"');
    expect(problem(schema, { constructor: 'x', toString: 1 })).toBeUndefined();
  });

  it('refuses unnamed fields when additionalProperties is false, and checks them against a schema', () => {
    const closed = { type: 'object', properties: { id: { type: 'number' } }, additionalProperties: false };
    expect(problem(closed, { id: 1 })).toBeUndefined();
    expect(problem(closed, { id: 1, extra: true })).toBe('unexpected field "extra"');
    const counters = { type: 'object', additionalProperties: { type: 'number' } };
    expect(problem(counters, { sent: 1, lost: 0 })).toBeUndefined();
    expect(problem(counters, { sent: 1, lost: 'none' })).toBe('lost: expected a number, got "none"');
    expect(problem({ type: 'object', additionalProperties: true }, { anything: 1 })).toBeUndefined();
  });

  it('leaves values that are not objects to `type`, as JSON Schema does', () => {
    expect(problem({ properties: { id: { type: 'number' } }, required: ['id'] }, 'not an object')).toBeUndefined();
  });
});

describe('arrays', () => {
  it('checks every element and names its index', () => {
    const ids = { type: 'array', items: { type: 'number' } };
    expect(problem(ids, [])).toBeUndefined();
    expect(problem(ids, [8, 9, 10])).toBeUndefined();
    expect(problem(ids, [8, '9', 10])).toBe('[1]: expected a number, got "9"');
  });
});

describe('paths', () => {
  it('join properties with dots and indexes with brackets, quoting names that are not identifiers', () => {
    const schema = {
      type: 'object',
      properties: {
        progress: {
          type: 'array',
          items: { type: 'object', properties: { current: { type: 'number' }, 'content-type': { type: 'string' } } },
        },
      },
    };
    expect(problem(schema, { progress: [{}, {}, {}, { current: 'x' }] })).toBe('progress[3].current: expected a number, got "x"');
    expect(problem(schema, { progress: [{ 'content-type': 1 }] })).toBe('progress[0]["content-type"]: expected a string, got 1');
  });
});

describe('$ref', () => {
  it('follows pointers into definitions and $defs', () => {
    const schema = {
      $ref: '#/definitions/Job',
      definitions: { Job: { type: 'object', properties: { id: { $ref: '#/$defs/JobId' } }, required: ['id'] } },
      $defs: { JobId: { type: 'number' } },
    };
    expect(problem(schema, { id: 7 })).toBeUndefined();
    expect(problem(schema, { id: '7' })).toBe('id: expected a number, got "7"');
  });

  it('decodes escaped names in pointers', () => {
    const schema = {
      $ref: '#/definitions/Map%3Cstring%3E',
      definitions: { 'Map<string>': { $ref: '#/definitions/a~1b~0c' }, 'a/b~c': { type: 'string' } },
    };
    expect(problem(schema, 'ok')).toBeUndefined();
    expect(problem(schema, 1)).toBe('expected a string, got 1');
  });

  it('handles schemas that refer to themselves', () => {
    const folder = {
      $ref: '#/definitions/Folder',
      definitions: {
        Folder: {
          type: 'object',
          properties: { name: { type: 'string' }, children: { type: 'array', items: { $ref: '#/definitions/Folder' } } },
          required: ['name'],
        },
      },
    };
    const tree = { name: 'photos', children: [{ name: '2025', children: [{ name: 'june' }, { name: 7 }] }] };
    expect(problem(folder, { name: 'photos', children: [{ name: '2025' }] })).toBeUndefined();
    expect(problem(folder, tree)).toBe('children[0].children[1].name: expected a string, got 7');
  });
});

describe('anyOf', () => {
  it('passes a value any branch takes, and reports the one branch that could have taken it', () => {
    const nullableError = {
      anyOf: [{ type: 'object', properties: { message: { type: 'string' } }, required: ['message'] }, { type: 'null' }],
    };
    expect(problem(nullableError, null)).toBeUndefined();
    expect(problem(nullableError, { message: 'no such job' })).toBeUndefined();
    expect(problem(nullableError, { message: 404 })).toBe('message: expected a string, got 404');
    expect(problem(nullableError, 'no such job')).toBe('expected an object or null, got "no such job"');
  });

  it('reports the first branch that could have taken the value when several could', () => {
    const schema = { anyOf: [{ type: 'string', enum: ['a', 'b'] }, { type: 'string', const: 'c' }] };
    expect(problem(schema, 'c')).toBeUndefined();
    expect(problem(schema, 'd')).toBe('expected one of "a", "b", got "d"');
  });

  describe('over a tagged union', () => {
    const shape = {
      $ref: '#/definitions/ShapeEvent',
      definitions: {
        ShapeEvent: {
          anyOf: [
            {
              type: 'object',
              properties: { kind: { type: 'string', const: 'circle' }, radius: { type: 'number' } },
              required: ['kind', 'radius'],
            },
            { $ref: '#/definitions/Square' },
          ],
        },
        Square: {
          type: 'object',
          properties: { kind: { type: 'string', const: 'square' }, side: { type: 'number' } },
          required: ['kind', 'side'],
        },
      },
    };

    it('checks the branch the tag names, and only that one', () => {
      expect(problem(shape, { kind: 'circle', radius: 2 })).toBeUndefined();
      expect(problem(shape, { kind: 'square', side: 3 })).toBeUndefined();
      // Trying the branches in turn would have reported the circle's complaint about `kind`.
      expect(problem(shape, { kind: 'square', side: '3' })).toBe('side: expected a number, got "3"');
      expect(problem(shape, { kind: 'circle', side: 3 })).toBe('missing required field "radius"');
    });

    it('names an unknown or missing tag, and a value that is not an object', () => {
      expect(problem(shape, { kind: 'triangle' })).toBe('unknown shape event kind "triangle"');
      expect(problem(shape, { kind: 'toString' })).toBe('unknown shape event kind "toString"');
      expect(problem(shape, { radius: 2 })).toBe('missing required field "kind"');
      expect(problem(shape, ['circle'])).toBe('expected an object, got an array');
    });

    it('says only the tag name when the union has no name of its own', () => {
      const inline = (shape.definitions.ShapeEvent as { anyOf: unknown[] }).anyOf;
      const schema = { type: 'object', properties: { shape: { anyOf: inline } }, definitions: shape.definitions };
      expect(problem(schema, { shape: { kind: 'hexagon' } })).toBe('shape: unknown kind "hexagon"');
    });

    it('falls back to trying each branch when two branches share a tag', () => {
      const ambiguous = {
        anyOf: [
          { type: 'object', properties: { kind: { const: 'a' }, n: { type: 'number' } }, required: ['kind', 'n'] },
          { type: 'object', properties: { kind: { const: 'a' }, s: { type: 'string' } }, required: ['kind', 's'] },
        ],
      };
      expect(problem(ambiguous, { kind: 'a', s: 'x' })).toBeUndefined();
      expect(problem(ambiguous, { kind: 'b' })).toBe('kind: expected "a", got "b"');
    });
  });
});

describe('boolean schemas', () => {
  it('true takes anything, false nothing', () => {
    expect(problem(true, { any: 'thing' })).toBeUndefined();
    expect(problem(false, 1)).toBe('no value is allowed here');
    expect(problem({ type: 'object', properties: { gone: false } }, { gone: 1 })).toBe('gone: no value is allowed here');
  });
});

describe('compiling', () => {
  it('skips annotations', () => {
    const annotated = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      $id: 'https://ferry.example/protocol.json',
      title: 'Job id',
      description: 'A row id.',
      $comment: 'u64 on the Rust side',
      default: 0,
      examples: [7],
      deprecated: false,
      type: 'number',
    };
    expect(problem(annotated, 7)).toBeUndefined();
    expect(problem(annotated, 'seven')).toBe('expected a number, got "seven"');
  });

  it.each([
    ['minimum', { type: 'number', minimum: 0 }],
    ['pattern', { type: 'string', pattern: '^[a-f0-9]+$' }],
    ['format', { type: 'string', format: 'uri' }],
    ['oneOf', { oneOf: [{ type: 'string' }] }],
    ['allOf', { allOf: [{ type: 'string' }] }],
    ['not', { not: { type: 'null' } }],
    ['if', { if: { type: 'string' }, then: { minLength: 1 } }],
    ['patternProperties', { type: 'object', patternProperties: { '^x-': { type: 'string' } } }],
    ['minItems', { type: 'array', minItems: 1 }],
    ['discriminator', { anyOf: [{ type: 'string' }], discriminator: { propertyName: 'type' } }],
  ])('throws on a keyword it does not check: %s', (keyword, schema) => {
    expect(() => compileSchema(schema)).toThrow(SchemaCompileError);
    expect(() => compileSchema(schema)).toThrow(`unsupported JSON Schema keyword "${keyword}" (at #)`);
  });

  it('throws on such a keyword however deep, saying where', () => {
    const schema = {
      $ref: '#/definitions/Job',
      definitions: { Job: { type: 'object', properties: { size: { type: 'number', exclusiveMinimum: 0 } } } },
    };
    expect(() => compileSchema(schema)).toThrow('unsupported JSON Schema keyword "exclusiveMinimum" (at #/definitions/Job/properties/size)');
  });

  it('throws on schemas whose meaning it would have to guess', () => {
    expect(() => compileSchema({ $ref: '#/definitions/A', type: 'object', definitions: { A: {} } })).toThrow(
      'keywords beside $ref are not supported: type',
    );
    expect(() => compileSchema({ type: 'array', items: [{ type: 'string' }] })).toThrow('a tuple');
    expect(() => compileSchema({ $ref: '#/definitions/Missing' })).toThrow('$ref "#/definitions/Missing" points at nothing');
    expect(() => compileSchema({ $ref: 'other.json#/definitions/A' })).toThrow('points outside this document');
    expect(() => compileSchema({ type: 'date' })).toThrow('type must be one of');
    expect(() => compileSchema({ const: { kind: 'job' } })).toThrow('const must be');
    expect(() => compileSchema({ type: 'object', properties: { id: { $id: 'x', type: 'number' } } })).toThrow('"$id"');
    expect(() => compileSchema({ $schema: 'https://json-schema.org/draft/2020-12/schema', type: 'string' })).toThrow(
      'only draft-07 is understood',
    );
  });
});
