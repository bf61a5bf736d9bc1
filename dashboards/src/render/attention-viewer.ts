import { dequantiseAttention } from '../../../src/protocol/messages.js';
import { h } from '../dom.js';
import { attentionToRgba } from './attention-image.js';
import type { OverlaySettingsStore } from './overlay-settings.js';

/** What a viewer shows: an image and its per-word attention (both caption and probe messages fit). */
export interface AttentionSubject {
  id: string;
  thumbnail: string;
  words: string[];
  gridSize: number;
  /** Base64 quantised maps (src/protocol/messages.ts), or '' when the server dropped them. */
  attention: string;
}

/**
 * A thumbnail with an attention canvas over it and the caption's words as chips. Hovering a chip shows
 * that word's map; clicking pins it; arrow keys step; play() walks through the sentence.
 * The canvas is drawn at a low resolution and stretched by the browser, which adds a second bilinear pass.
 */
export class AttentionViewer {
  readonly root: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  private readonly img: HTMLImageElement;
  private readonly wordsEl: HTMLElement;
  private readonly note: HTMLElement;
  private subject: AttentionSubject | undefined;
  private maps: Float32Array[] = [];
  private tokens: string[] = [];
  private hovered: number | undefined;
  private pinned: number | undefined;
  private playTimer: ReturnType<typeof setInterval> | undefined;
  private readonly unsubscribe: () => void;

  /** @param resolution canvas pixels per side (the overlay's computation size). */
  constructor(
    private readonly settings: OverlaySettingsStore,
    opts: { resolution?: number; className?: string } = {},
  ) {
    const res = opts.resolution ?? 160;
    this.img = h('img', { class: 'attn-img', alt: '' });
    this.canvas = h('canvas', { class: 'attn-canvas', width: res, height: res });
    this.note = h('div', { class: 'attn-note', hidden: true });
    this.wordsEl = h('div', { class: 'attn-words', role: 'listbox', 'aria-label': 'caption words' });
    this.root = h(
      'div',
      { class: `attn-viewer ${opts.className ?? ''}`, tabindex: 0 },
      h('div', { class: 'attn-stage' }, this.img, this.canvas, this.note),
      this.wordsEl,
    );
    this.wordsEl.addEventListener('mouseleave', () => {
      this.hovered = undefined;
      this.draw();
    });
    this.root.addEventListener('keydown', (ev) => {
      if (ev.key === 'ArrowRight' || ev.key === 'ArrowLeft') {
        ev.preventDefault();
        this.stopPlaying();
        this.step(ev.key === 'ArrowRight' ? 1 : -1);
      } else if (ev.key === 'Escape') {
        this.pin(undefined);
      }
    });
    this.unsubscribe = settings.subscribe(() => this.draw());
  }

  /** The subject currently shown. */
  get current(): AttentionSubject | undefined {
    return this.subject;
  }

  /** The word index whose map is drawn, if any. */
  get shownIndex(): number | undefined {
    return this.hovered ?? this.pinned;
  }

  /** True while the pointer is over the words or a word is pinned or playing: callers should not swap the subject. */
  get engaged(): boolean {
    return this.hovered !== undefined || this.pinned !== undefined || this.playTimer !== undefined;
  }

  /** Shows a new image (no-op when it is the one shown). */
  set(subject: AttentionSubject): void {
    if (this.subject?.id === subject.id && this.subject.thumbnail === subject.thumbnail) return;
    this.stopPlaying();
    this.subject = subject;
    this.hovered = undefined;
    this.pinned = undefined;
    // A probe whose image vanished arrives without a thumbnail: show the dark stage, not a broken-image icon.
    this.img.hidden = !subject.thumbnail;
    if (subject.thumbnail) this.img.src = subject.thumbnail;
    this.maps = subject.attention && subject.gridSize > 0 ? dequantiseAttention(subject.attention, subject.gridSize) : [];
    this.tokens = [...subject.words];
    if (this.maps.length > this.tokens.length) this.tokens.push('<end>');
    this.note.textContent = this.maps.length === 0 ? 'no attention (dropped: client behind)' : '';
    this.note.hidden = this.maps.length > 0;
    this.wordsEl.replaceChildren(
      ...this.tokens.map((w, i) => {
        const chip = h('span', { class: 'word', role: 'option', 'data-index': i }, w);
        if (i >= this.maps.length) chip.classList.add('word-nomap');
        chip.addEventListener('mouseenter', () => {
          this.hovered = i;
          this.draw();
        });
        chip.addEventListener('click', () => this.pin(this.pinned === i ? undefined : i));
        return chip;
      }),
    );
    this.draw();
  }

  /** Pins word i (or unpins with undefined). */
  pin(i: number | undefined): void {
    this.pinned = i;
    this.draw();
  }

  /** Moves the pinned word by delta, wrapping. */
  step(delta: number): void {
    const n = this.maps.length;
    if (n === 0) return;
    const from = this.pinned ?? (delta > 0 ? -1 : n);
    this.pin((((from + delta) % n) + n) % n);
  }

  /** Toggles walking through the words at `intervalMs`. */
  togglePlay(intervalMs = 700): boolean {
    if (this.playTimer !== undefined) {
      this.stopPlaying();
      return false;
    }
    this.step(1);
    this.playTimer = setInterval(() => this.step(1), intervalMs);
    return true;
  }

  private stopPlaying(): void {
    if (this.playTimer !== undefined) clearInterval(this.playTimer);
    this.playTimer = undefined;
  }

  /** Removes listeners and timers. */
  dispose(): void {
    this.stopPlaying();
    this.unsubscribe();
  }

  private draw(): void {
    const i = this.shownIndex;
    for (const chip of Array.from(this.wordsEl.children)) {
      const idx = Number((chip as HTMLElement).dataset['index']);
      chip.classList.toggle('word-active', idx === i);
      chip.classList.toggle('word-pinned', idx === this.pinned);
    }
    const ctx = this.canvas.getContext('2d');
    if (!ctx) return;
    const size = this.canvas.width;
    const map = i === undefined ? undefined : this.maps[i];
    const grid = this.subject?.gridSize ?? 0;
    if (!map || grid <= 0) {
      ctx.clearRect(0, 0, size, size);
      this.canvas.dataset['word'] = '';
      return;
    }
    const s = this.settings.value;
    const rgba = attentionToRgba(map, grid, {
      size,
      sigma: s.smoothing * (size / grid) * 0.6,
      colormap: s.colormap,
      opacity: s.opacity,
    });
    ctx.putImageData(new ImageData(rgba, size, size), 0, 0);
    this.canvas.dataset['word'] = this.tokens[i!] ?? '';
  }
}
