/**
 * The OpenAPI document: every Express route is in it and nothing else is, its examples validate
 * against their schemas and work against the real service, and /openapi.json and /docs are served
 * without a key, with every asset the page loads.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileErrors, validate } from '@readme/openapi-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { openApiDocument } from '../../app/src/api/openapi.ts';
import { useTestApp } from '../harness/app.ts';
import { assertDocumented, documentedPath } from './helpers/openapi-responses.ts';

const app = useTestApp();

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
}

/** "METHOD /path/{param}" for every route of the app, nested routers included. */
function expressRoutes(stack: Layer[]): string[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
      return paths.flatMap((p) =>
        Object.keys(layer.route!.methods)
          .filter((m) => m !== '_all')
          .map((m) => `${m.toUpperCase()} ${p.replace(/:(\w+)/g, '{$1}')}`),
      );
    }
    return layer.handle?.stack ? expressRoutes(layer.handle.stack) : [];
  });
}

type Doc = ReturnType<typeof openApiDocument>;

function documentedRoutes(doc: Doc): string[] {
  return Object.entries(doc.paths ?? {}).flatMap(([path, item]) =>
    Object.keys(item as object)
      .filter((k) => ['get', 'post', 'put', 'delete', 'patch'].includes(k))
      .map((m) => `${m.toUpperCase()} ${path}`),
  );
}

test('every Express route is documented, and every documented operation is a route', () => {
  const router = (app.service.app as unknown as { router: { stack: Layer[] } }).router;
  const routes = new Set(expressRoutes(router.stack));
  const documented = new Set(documentedRoutes(openApiDocument()));
  assert.ok(routes.size >= 20, `found ${routes.size} routes`);
  assert.deepEqual(
    [...routes].filter((r) => !documented.has(r)).sort(),
    [],
    'routes missing from the document',
  );
  assert.deepEqual(
    [...documented].filter((r) => !routes.has(r)).sort(),
    [],
    'documented operations with no route',
  );
});

/** Every example in the document with the schema it illustrates. */
function examples(
  node: unknown,
  path: string,
  out: { where: string; schema: object; value: unknown }[] = [],
) {
  if (typeof node !== 'object' || node === null) return out;
  const o = node as Record<string, unknown>;
  if (Array.isArray(o.examples) && !path.endsWith('.content')) {
    o.examples.forEach((value, i) => out.push({ where: `${path}.examples[${i}]`, schema: o, value }));
  }
  if (o.schema && typeof o.schema === 'object') {
    if ('example' in o) out.push({ where: `${path}.example`, schema: o.schema, value: o.example });
    if (o.examples && typeof o.examples === 'object' && !Array.isArray(o.examples)) {
      for (const [name, ex] of Object.entries(o.examples as Record<string, { value: unknown }>))
        out.push({ where: `${path}.examples.${name}`, schema: o.schema, value: ex.value });
    }
  }
  for (const [k, v] of Object.entries(o))
    if (k !== 'examples' && k !== 'example') examples(v, `${path}.${k}`, out);
  return out;
}

test('the document is valid OpenAPI 3.1 (checked against the specification by @readme/openapi-parser)', async () => {
  const doc = openApiDocument();
  assert.equal(doc.openapi, '3.1.0');
  type Api = Parameters<typeof validate>[0];
  const result = await validate(structuredClone(doc) as Api);
  assert.ok(result.valid, result.valid ? '' : compileErrors(result));
  // the check can fail: a path parameter that is not required breaks the specification
  const broken = structuredClone(doc) as unknown as {
    paths: Record<string, { get: { parameters: { required?: boolean }[] } }>;
  };
  broken.paths['/v2/models/{model}']!.get.parameters[0]!.required = false;
  assert.equal((await validate(broken as unknown as Api)).valid, false);
});

test('every example validates against its schema', () => {
  const doc = openApiDocument();
  const found = examples(doc, '$');
  assert.ok(found.length >= 12, `only ${found.length} examples found`);
  const ajv = new Ajv2020({ strict: false, validateFormats: false, allErrors: true });
  for (const { where, schema, value } of found) {
    const validate = ajv.compile({ ...schema, examples: undefined, components: doc.components });
    assert.ok(validate(value), `${where}: ${JSON.stringify(validate.errors)}`);
  }
  // and the check can fail: a wrong example is caught
  const job = doc.components!.schemas!.JobSubmission as object;
  const validate = ajv.compile({ ...job, examples: undefined, components: doc.components });
  assert.equal(validate({ task: 'text.classify', input: { text: 'x' }, priority: 'urgent' }), false);
});

test('the request examples are accepted by the real routes', async () => {
  const doc = openApiDocument();
  const schemas = doc.components!.schemas as Record<string, { examples: unknown[] }>;
  const routes: [schema: string, path: string, status: number][] = [
    ['InferRequest', '/v2/models/text-spam/infer', 200],
    ['JobSubmission', '/v1/jobs', 202],
    ['TextClassifyInput', '/v1/text/classify', 200],
    ['TextClassifyBatchInput', '/v1/text/classify', 200],
    ['RepositoryIndexRequest', '/v2/repository/index', 200],
  ];
  for (const [schema, path, status] of routes) {
    for (const body of schemas[schema]!.examples) {
      const res = await app.call(path, { method: 'POST', json: body });
      assert.equal(res.status, status, `${schema} example on ${path}: ${await res.text()}`);
    }
  }
});

test('/openapi.json and /docs are served without a key, with every asset the page loads', async () => {
  const res = await app.call('/openapi.json', { key: null });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), JSON.parse(JSON.stringify(openApiDocument())));
  const page = await app.call('/docs', { key: null });
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  const html = await page.text();
  const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(assets.includes('/docs/swagger-ui-bundle.js'), html);
  for (const asset of assets) {
    assert.ok(asset.startsWith('/docs/'), `${asset} is served here, not by a CDN`);
    const r = await app.call(asset, { key: null });
    assert.equal(r.status, 200, asset);
  }
  const init = await (await app.call('/docs/init.js', { key: null })).text();
  assert.match(init, /url: '\/openapi\.json'/);
  assert.match(init, /validatorUrl: null/);
  for (const path of ['/docs/index.css', '/docs/swagger-initializer.js', '/docs/..%2Fpackage.json']) {
    assert.equal((await app.call(path, { key: null })).status, 404, path);
  }
});

test('real answers of every route, successes and errors, are documented as they are', async () => {
  const submitted = await app.call('/v1/jobs', {
    method: 'POST',
    json: { task: 'text.classify', input: { text: 'lunch at noon?' } },
  });
  const job = (await assertDocumented('POST', '/v1/jobs', submitted)) as { id: string };
  const text = { inputs: [{ name: 'text', datatype: 'BYTES', shape: [1], data: ['lunch at noon?'] }] };
  const binaryOut = { ...text, parameters: { binary_data_output: true } };
  const calls: [method: string, path: string, init?: Parameters<typeof app.call>[1], status?: number][] = [
    ['GET', '/v2/health/live'],
    ['GET', '/v2/health/ready'],
    ['GET', '/metrics'],
    ['GET', '/openapi.json'],
    ['GET', '/docs'],
    ['GET', '/docs/swagger-ui-bundle.js'],
    ['GET', '/docs/nope.js', {}, 404],
    ['POST', '/v1/text/classify', { json: { text: 'lunch at noon?' } }],
    ['POST', '/v1/text/classify', { json: { texts: ['lunch at noon?', 'WIN a FREE cruise'] } }],
    ['POST', '/v1/text/classify', { json: { texts: [] } }, 400],
    ['POST', '/v1/text/classify', { body: 'x', headers: { 'content-type': 'text/plain' } }, 415],
    ['POST', '/v1/text/classify', { json: { text: 'x' }, key: null }, 401],
    ['POST', '/v1/text/nope', { json: { text: 'x' } }, 404],
    ['POST', '/v1/jobs', { json: { task: 'text.classify', input: { text: '' } } }, 400],
    ['POST', '/v1/jobs/batch', { json: { jobs: [{ task: 'text.classify', input: { text: 'hi' } }, {}] } }],
    ['POST', '/v1/jobs/batch', { json: { jobs: [] } }, 400],
    ['GET', '/v1/jobs?limit=5'],
    ['GET', `/v1/jobs?ids=${job.id},00000000-0000-4000-8000-000000000000`],
    ['GET', '/v1/jobs?ids=nope', {}, 400],
    ['GET', '/v1/jobs?limit=0', {}, 400],
    ['GET', `/v1/jobs/${job.id}`],
    ['GET', '/v1/jobs/00000000-0000-4000-8000-000000000000', {}, 404],
    ['DELETE', '/v1/jobs/00000000-0000-4000-8000-000000000000', {}, 404],
    ['GET', '/v2'],
    ['GET', '/v2/models'],
    ['POST', '/v2/repository/index'],
    ['POST', '/v2/repository/index', { json: { nope: 1 } }, 400],
    ['GET', '/v2/models/text-spam'],
    ['GET', '/v2/models/nope', {}, 404],
    ['GET', '/v2/models/text-spam/ready'],
    ['POST', '/v2/models/text-spam/infer', { json: text }],
    ['POST', '/v2/models/text-spam/infer', { json: binaryOut }],
    ['POST', '/v2/models/text-spam/infer', { json: { inputs: [] } }, 400],
    ['GET', '/v2/models/text-spam/versions/1'],
    ['GET', '/v2/models/text-spam/versions/1/ready'],
    ['POST', '/v2/models/text-spam/versions/1/infer', { json: text }],
    ['GET', '/console/api/status'],
    ['GET', '/console/api/jobs?limit=5'],
    ['GET', '/console/api/jobs?nope=1', {}, 400],
  ];
  const seen = new Set<string>();
  for (const [method, path, init = {}, status = 200] of calls) {
    const res = await app.call(path, { ...init, method });
    assert.equal(res.status, status, `${method} ${path}: ${await res.clone().text()}`);
    await assertDocumented(method, path, res);
    seen.add(`${method} ${documentedPath(path)}`);
  }
  // the cancel route answers 200 or 409 depending on the worker's speed: either must be documented
  const cancel = await app.call(`/v1/jobs/${job.id}`, { method: 'DELETE' });
  await assertDocumented('DELETE', `/v1/jobs/${job.id}`, cancel);
  seen.add('DELETE /v1/jobs/{id}');
  seen.add('POST /v1/jobs');
  assert.deepEqual(
    documentedRoutes(openApiDocument()).filter((r) => !seen.has(r)),
    [],
    'documented operations this test did not call',
  );
  // and the check can fail: an undocumented field in a strict response is caught
  const lying = new Response(JSON.stringify({ live: true, extra: 1 }), {
    headers: { 'content-type': 'application/json' },
  });
  await assert.rejects(assertDocumented('GET', '/v2/health/live', lying), /does not match/);
});
