/** ModelRegistry: manifest validation, checksum refusal, precision choice. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import type { Manifest } from '../../app/src/models/manifest.ts';
import { DirectorySource, ModelIntegrityError, ModelRegistry } from '../../app/src/models/registry.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function copyModels(mutate: (m: Manifest, dir: string) => void): string {
  const dir = mkdtempSync(join(tmpdir(), 'clawstack-models-'));
  dirs.push(dir);
  const manifest = JSON.parse(readFileSync('models/manifest.json', 'utf8')) as Manifest;
  manifest.models = manifest.models.filter((m) => m.name === 'text-spam' && m.precision === 'fp32');
  for (const m of manifest.models) cpSync(resolve('models', m.file), join(dir, m.file), { recursive: true });
  mutate(manifest, dir);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  return dir;
}

test('loads the shipped manifest and verifies every file', async () => {
  const reg = await ModelRegistry.load(new DirectorySource(resolve('models')), { precision: 'fp32' });
  assert.ok(reg.get('text-spam'));
  assert.equal(reg.get('text-spam', '1')?.entry.version, '1');
  assert.equal(reg.get('text-spam', '2'), undefined);
  assert.deepEqual([...reg.forTask('image.ocr').keys()].sort(), ['det', 'rec']);
});

test('a file whose sha256 does not match the manifest is refused', async () => {
  const dir = copyModels((m) => {
    m.models[0]!.sha256 = '0'.repeat(64);
  });
  await assert.rejects(
    ModelRegistry.load(new DirectorySource(dir), { precision: 'fp32' }),
    (err: Error) =>
      err instanceof ModelIntegrityError &&
      /has sha256 [0-9a-f]{64}, manifest says 0{64}: refusing it/.test(err.message),
  );
});

test('a tampered model file is refused', async () => {
  const dir = copyModels((m, d) => {
    const path = join(d, m.models[0]!.file);
    const bytes = readFileSync(path);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(path, bytes);
  });
  await assert.rejects(
    ModelRegistry.load(new DirectorySource(dir), { precision: 'fp32' }),
    ModelIntegrityError,
  );
});

test('an invalid manifest names the field', async () => {
  const dir = copyModels((m) => {
    (m.models[0] as { precision: string }).precision = 'fp64';
  });
  await assert.rejects(
    ModelRegistry.load(new DirectorySource(dir), { precision: 'fp32' }),
    /models\.0\.precision/,
  );
});

test('the preferred precision is chosen when both exist, the other one otherwise', async () => {
  const dir = copyModels((m) => {
    m.models.push({ ...m.models[0]!, precision: 'int8' });
  });
  const int8 = await ModelRegistry.load(new DirectorySource(dir), { precision: 'int8' });
  assert.equal(int8.get('text-spam')!.entry.precision, 'int8');
  const fp32 = await ModelRegistry.load(new DirectorySource(dir), { precision: 'fp32' });
  assert.equal(fp32.get('text-spam')!.entry.precision, 'fp32');
  const onlyFp32 = copyModels(() => {});
  const fallback = await ModelRegistry.load(new DirectorySource(onlyFp32), { precision: 'int8' });
  assert.equal(fallback.get('text-spam')!.entry.precision, 'fp32');
});

test('MODELS naming a model the manifest lacks is an error', async () => {
  await assert.rejects(
    ModelRegistry.load(new DirectorySource(resolve('models')), { precision: 'fp32', only: ['gpt-9'] }),
    /MODELS names "gpt-9"/,
  );
});
