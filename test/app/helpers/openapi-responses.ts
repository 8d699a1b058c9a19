/**
 * Checks a real response against /openapi.json: its status is one the operation documents, its media
 * type is one that response documents, and a JSON body validates against that response's schema.
 */
import assert from 'node:assert/strict';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { openApiDocument } from '../../../app/src/api/openapi.ts';

type Doc = ReturnType<typeof openApiDocument>;
interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
}

const doc: Doc = openApiDocument();
const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
const compiled = new Map<string, ValidateFunction>();

/** The documented path template for a concrete path; the most literal one wins (/v1/jobs/{id} over /v1/{modality}/{verb}). */
export function documentedPath(path: string): string | undefined {
  const bare = path.split('?')[0]!;
  const matches = Object.keys(doc.paths ?? {}).filter((template) =>
    new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`).test(bare),
  );
  const literal = (t: string) => t.replace(/\{[^}]+\}/g, '').length;
  return matches.sort((a, b) => literal(b) - literal(a))[0];
}

/** Asserts that `res` (to `method path`) is documented as it is; returns the parsed JSON body, if any. */
export async function assertDocumented(method: string, path: string, res: Response): Promise<unknown> {
  const where = `${method} ${path} → ${res.status}`;
  const template = documentedPath(path);
  assert.ok(template, `${where}: no documented path matches`);
  const op = (doc.paths![template] as Record<string, Operation | undefined>)[method.toLowerCase()];
  assert.ok(op, `${where}: ${template} documents no ${method}`);
  const response = op.responses[String(res.status)];
  assert.ok(response, `${where}: status not documented for ${method} ${template}`);
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim();
  const content = response.content ?? {};
  const media = content[type] ?? content['*/*'];
  assert.ok(
    media,
    `${where}: ${type || 'no content type'} not documented (${Object.keys(content).join(', ')})`,
  );
  if (type !== 'application/json') return undefined;
  const body: unknown = await res.json();
  const key = `${method} ${template} ${res.status}`;
  let validate = compiled.get(key);
  if (!validate) {
    validate = ajv.compile({ ...media.schema, components: doc.components });
    compiled.set(key, validate);
  }
  assert.ok(
    validate(body),
    `${where}: body ${JSON.stringify(body)} does not match: ${JSON.stringify(validate.errors)}`,
  );
  return body;
}
