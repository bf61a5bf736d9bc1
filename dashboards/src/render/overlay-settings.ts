import type { ColormapName } from './colormap.js';

/** How attention overlays are drawn; one shared instance drives every viewer on the page. */
export interface OverlaySettings {
  /** 0..1 */
  opacity: number;
  /** 0..1: Gaussian sigma as a fraction of one grid cell's size in pixels. */
  smoothing: number;
  colormap: ColormapName;
}

/** A tiny observable value: the settings panel writes, viewers redraw. */
export class OverlaySettingsStore {
  private listeners = new Set<(s: OverlaySettings) => void>();
  constructor(private current: OverlaySettings = { opacity: 0.7, smoothing: 0.5, colormap: 'inferno' }) {}

  get value(): OverlaySettings {
    return this.current;
  }

  /** Merges a change and notifies listeners. */
  update(change: Partial<OverlaySettings>): void {
    this.current = { ...this.current, ...change };
    for (const l of this.listeners) l(this.current);
  }

  /** Registers a listener; returns its remover. */
  subscribe(fn: (s: OverlaySettings) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
