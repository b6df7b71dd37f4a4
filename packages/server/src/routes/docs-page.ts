/**
 * The interactive API reference at `/docs`: Swagger UI, served entirely by this server (the
 * page, its script and stylesheet come from the `swagger-ui-dist` package), so it works with no
 * network. It loads `/spec.json` and can send requests with a bearer token.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { NotFoundError } from '../domain/errors.js';

/** The asset files the page references, by the name used in its URL. */
export const DOCS_ASSETS = {
  'swagger-ui.css': 'text/css',
  'swagger-ui-bundle.js': 'text/javascript',
} as const;
export type DocsAsset = keyof typeof DOCS_ASSETS;

const assetDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
const cache = new Map<DocsAsset, Uint8Array>();

/** An asset's bytes, read from `swagger-ui-dist` once and kept. */
export async function docsAsset(name: DocsAsset): Promise<Uint8Array> {
  let bytes = cache.get(name);
  if (!bytes) {
    if (!(name in DOCS_ASSETS)) throw new NotFoundError(`no docs asset ${name}`);
    bytes = new Uint8Array(await readFile(join(assetDir, name)));
    cache.set(name, bytes);
  }
  return bytes;
}

/**
 * The page. URLs are relative (`docs/...`, `spec.json`) so it also works behind a proxy that
 * mounts the API under a prefix.
 */
export function docsPage(title: string): string {
  const escaped = title.replace(/[<>&"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escaped}</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script>
// "Try it out" must reach the server that serves this page, whatever port it listens on, so
// the document's default server entry is replaced by this page's own origin and prefix.
fetch('spec.json')
  .then((response) => response.json())
  .then((spec) => {
    const base = new URL('.', window.location.href).href;
    spec.servers = [{ url: base.endsWith('/') ? base.slice(0, -1) : base }];
    window.ui = SwaggerUIBundle({
      spec,
      dom_id: '#swagger-ui',
      deepLinking: true,
      persistAuthorization: true,
    });
  });
</script>
</body>
</html>
`;
}
