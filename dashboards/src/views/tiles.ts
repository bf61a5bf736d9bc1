import { h, setText } from '../dom.js';

/** A row of labelled figures ("throughput 42.0 img/s") updated in place. */
export class Tiles {
  readonly root: HTMLElement;
  private readonly values = new Map<string, { value: HTMLElement; tile: HTMLElement }>();

  constructor(labels: string[]) {
    this.root = h('div', { class: 'tiles' });
    for (const label of labels) {
      const value = h('div', { class: 'tile-value' }, '–');
      const tile = h('div', { class: 'tile', 'data-tile': label }, h('div', { class: 'tile-label' }, label), value);
      this.values.set(label, { value, tile });
      this.root.append(tile);
    }
  }

  /** Sets a tile's text and optional tone ('good' | 'warn' | 'bad'). */
  set(label: string, text: string, tone?: 'good' | 'warn' | 'bad'): void {
    const t = this.values.get(label);
    if (!t) throw new Error(`dashboard: no tile "${label}"`);
    setText(t.value, text);
    t.tile.dataset['tone'] = tone ?? '';
  }
}
