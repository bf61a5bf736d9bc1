/** Builds the dashboard with Vite's API into a directory (tests build into a temp dir, never racing dashboards/dist). */
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

/** The dashboard's Vite config. */
export const VITE_CONFIG = fileURLToPath(new URL('../../dashboards/vite.config.ts', import.meta.url));

/** Runs `vite build` for the dashboard with outDir replaced by `outDir` (absolute). */
export async function buildDashboard(outDir: string): Promise<void> {
  await build({ configFile: VITE_CONFIG, logLevel: 'error', build: { outDir, emptyOutDir: true } });
}
