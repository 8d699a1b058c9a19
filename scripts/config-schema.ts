/**
 * Regenerates the config declarations from the zod key definitions:
 *   - Pulumi.yaml `config:` and `template:` (what `pulumi config` and `pulumi new` show)
 *   - docs/stack-config.schema.json (editors: `# yaml-language-server: $schema=docs/stack-config.schema.json`)
 * Run after adding or changing a key: npm run config-schema. test/infra/config-schema.test.ts fails
 * when the files are stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { renderProjectFile, renderSchemaFile, PROJECT_FILE, SCHEMA_FILE } from './config-schema/files.ts';

writeFileSync(PROJECT_FILE, renderProjectFile(readFileSync(PROJECT_FILE, 'utf8')));
writeFileSync(SCHEMA_FILE, renderSchemaFile());
console.log(`wrote ${PROJECT_FILE} (config, template) and ${SCHEMA_FILE}`);
