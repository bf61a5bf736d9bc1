import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * Builds the dashboard into dashboards/dist. `base: './'` makes every asset URL relative, so the page
 * works wherever the feed server mounts it (/, /dashboard/, behind a proxy prefix).
 */
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // One small bundle; no runtime fetches beyond the page's own assets.
    assetsInlineLimit: 4096,
    chunkSizeWarningLimit: 200,
  },
});
