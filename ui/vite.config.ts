import { fileURLToPath } from 'node:url';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));
const testing = process.env.VITEST !== undefined;
// The client's tests against a running `ferry serve` (*.serve.test.ts) run on their own,
// once the binary is built, and in Node's world: no browser builds of packages.
const againstServer = process.env.FERRY_SERVE_TESTS !== undefined;

export default defineConfig({
  root,
  // One dependency cache for the repository, next to the node_modules it describes.
  cacheDir: fileURLToPath(new URL('../node_modules/.vite', import.meta.url)),
  plugins: [svelte({ configFile: fileURLToPath(new URL('./svelte.config.js', import.meta.url)) })],
  // Tauri prints its own output next to Vite's; keep both readable.
  clearScreen: false,
  envPrefix: ['VITE_', 'TAURI_ENV_'],
  // Component tests mount Svelte's browser build in jsdom.
  resolve: testing && !againstServer ? { conditions: ['browser'] } : undefined,
  server: {
    port: 5173,
    strictPort: true,
    watch: { ignored: ['**/dist/**'] },
  },
  preview: {
    port: 4173,
    strictPort: false,
  },
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    // WebKitGTK (Linux) and Safari's WebView are the oldest engines Tauri runs in.
    target: 'es2021',
    sourcemap: process.env.TAURI_ENV_DEBUG === 'true',
    minify: process.env.TAURI_ENV_DEBUG === 'true' ? false : 'esbuild',
  },
  test: {
    root,
    include: againstServer ? ['src/**/*.serve.test.ts'] : ['src/**/*.test.ts'],
    exclude: againstServer ? [] : ['src/**/*.serve.test.ts'],
    environment: 'node',
    restoreMocks: true,
  },
});
