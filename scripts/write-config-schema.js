// Writes schema/partgov.config.schema.json from the zod schema (run by `npm run schema`).
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../dist/config/config-schema.js';

writeFileSync(new URL('../schema/partgov.config.schema.json', import.meta.url), `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.error('wrote schema/partgov.config.schema.json');
