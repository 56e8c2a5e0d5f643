import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createGenerator } from 'ts-json-schema-generator';
import { describe, expect, it } from 'vitest';

const protocolPath = fileURLToPath(new URL('./generated/protocol.ts', import.meta.url));
const schemaPath = fileURLToPath(new URL('./generated/protocol.schema.json', import.meta.url));
const regenerate = 'FERRY_UPDATE_GENERATED=1 npm run -s ui:test -- protocol-schema';

/** Keys whose values are maps from names to schemas: a field named `description` lives there. */
const SCHEMA_MAPS = new Set(['properties', 'definitions', '$defs', 'patternProperties']);
/** Keys whose values are data, not schemas. */
const DATA = new Set(['const', 'enum', 'default', 'examples']);

/** The schema without its `description` annotations, which are the doc comments again and would triple its size. */
function withoutDescriptions(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(withoutDescriptions);
  if (typeof schema !== 'object' || schema === null) return schema;
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === 'description') continue;
    if (DATA.has(key)) kept[key] = value;
    else if (SCHEMA_MAPS.has(key) && typeof value === 'object' && value !== null) {
      kept[key] = Object.fromEntries(Object.entries(value).map(([name, member]) => [name, withoutDescriptions(member)]));
    } else kept[key] = withoutDescriptions(value);
  }
  return kept;
}

function generateSchemaText(): string {
  const generator = createGenerator({
    path: protocolPath,
    type: 'ServerMessage',
    skipTypeCheck: true,
    // A newer server may add fields; the window must still read its messages.
    additionalProperties: true,
  });
  return `${JSON.stringify(withoutDescriptions(generator.createSchema('ServerMessage')), null, 2)}\n`;
}

describe('the generated JSON Schema of ServerMessage', () => {
  it(
    'matches the generated protocol types',
    () => {
      const expected = generateSchemaText();
      if (process.env.FERRY_UPDATE_GENERATED !== undefined) {
        writeFileSync(schemaPath, expected);
        return;
      }
      let committed = '';
      try {
        committed = readFileSync(schemaPath, 'utf8');
      } catch {
        // A missing file is as stale as an outdated one.
      }
      expect(committed, `${schemaPath} is stale; regenerate it with \`${regenerate}\``).toBe(expected);
    },
    60_000,
  );
});
