/**
 * Sampling of synthetic scenes: 1-3 coloured shapes of two sizes at non-overlapping positions, on a
 * tinted gradient with pixel noise and a little neutral clutter that captions never mention.
 * Attributes are deliberately shared between objects (same colour, same shape, or both) so that a
 * caption cannot be right without looking at the right object.
 */
import { pick } from '../rng.js';
import type { SceneObject } from '../types.js';
import { COLOR_NAMES, COLORS, SHAPES, SIZES, type Color, type Shape, type Size } from './lexicon.js';

type Rgb = [number, number, number];

export interface DrawnObject {
  object: SceneObject;
  /** Degrees; a slight tilt for visual variety (circles ignore it). */
  rotation: number;
  fill: Rgb;
}

export interface Clutter {
  kind: 'dot' | 'line';
  x: number;
  y: number;
  /** Radius of a dot, or length of a line. */
  extent: number;
  angle: number;
  grey: number;
}

export interface Scene {
  size: number;
  objects: DrawnObject[];
  background: { from: Rgb; to: Rgb; x1: number; y1: number; x2: number; y2: number };
  clutter: Clutter[];
  /** Amplitude of uniform per-pixel noise, in 0..255 units. */
  noise: number;
}

const MIN_GAP = 0.04;

/** Samples one scene; every random choice comes from rng, so a seed fixes the scene. */
export function sampleScene(rng: () => number, size: number): Scene {
  const u = rng();
  const n = u < 0.2 ? 1 : u < 0.55 ? 2 : 3;
  for (;;) {
    const attrs = sampleAttributes(rng, n);
    const objects = placeObjects(rng, attrs, size);
    if (!objects) continue;
    return {
      size,
      objects,
      background: sampleBackground(rng, size),
      clutter: sampleClutter(rng, size, objects.map((o) => o.object)),
      noise: round2(rng() * 8),
    };
  }
}

function sampleAttributes(rng: () => number, n: number): Array<{ shape: Shape; color: Color; size: Size }> {
  const out = [{ shape: pick(rng, SHAPES), color: pick(rng, COLOR_NAMES), size: pick(rng, SIZES) }];
  while (out.length < n) {
    const base = pick(rng, out);
    const otherShape = (): Shape => pick(rng, SHAPES.filter((s) => s !== base.shape));
    const otherColor = (): Color => pick(rng, COLOR_NAMES.filter((c) => c !== base.color));
    const v = rng();
    if (v < 0.25) out.push({ shape: base.shape, color: otherColor(), size: pick(rng, SIZES) });
    else if (v < 0.5) out.push({ shape: otherShape(), color: base.color, size: pick(rng, SIZES) });
    // A twin: same colour and shape, so only size or position can tell them apart.
    else if (v < 0.62) out.push({ shape: base.shape, color: base.color, size: pick(rng, SIZES) });
    else out.push({ shape: pick(rng, SHAPES), color: pick(rng, COLOR_NAMES), size: pick(rng, SIZES) });
  }
  return out;
}

function placeObjects(rng: () => number, attrs: Array<{ shape: Shape; color: Color; size: Size }>, size: number): DrawnObject[] | undefined {
  const placed: DrawnObject[] = [];
  for (const a of attrs) {
    const d = size * (a.size === 'small' ? 0.19 + 0.03 * rng() : 0.31 + 0.04 * rng());
    let ok = false;
    for (let attempt = 0; attempt < 60 && !ok; attempt++) {
      const cx = d / 2 + 1 + rng() * (size - d - 2);
      const cy = d / 2 + 1 + rng() * (size - d - 2);
      const box = { x: round2(cx - d / 2), y: round2(cy - d / 2), w: round2(d), h: round2(d) };
      if (placed.every((p) => separated(p.object.box, box, MIN_GAP * size))) {
        const base = COLORS[a.color];
        const fill = base.map((c) => clamp255(c + (rng() - 0.5) * 24)) as Rgb;
        const rotation = a.shape === 'circle' ? 0 : round2((rng() - 0.5) * 24);
        placed.push({ object: { shape: a.shape, color: a.color, size: a.size, box }, rotation, fill });
        ok = true;
      }
    }
    if (!ok) return undefined;
  }
  return placed;
}

function separated(a: SceneObject['box'], b: SceneObject['box'], gap: number): boolean {
  return a.x + a.w + gap <= b.x || b.x + b.w + gap <= a.x || a.y + a.h + gap <= b.y || b.y + b.h + gap <= a.y;
}

function sampleBackground(rng: () => number, size: number): Scene['background'] {
  const grey = 110 + rng() * 105;
  const tint = [0, 1, 2].map(() => (rng() - 0.5) * 24);
  const shift = (rng() - 0.5) * 50;
  const from = tint.map((t) => clamp255(grey + t)) as Rgb;
  const to = tint.map((t) => clamp255(grey + shift + t * 0.5)) as Rgb;
  const angle = rng() * 2 * Math.PI;
  const h = size / 2;
  return {
    from,
    to,
    x1: round2(h - Math.cos(angle) * h),
    y1: round2(h - Math.sin(angle) * h),
    x2: round2(h + Math.cos(angle) * h),
    y2: round2(h + Math.sin(angle) * h),
  };
}

/** 0-2 tiny grey dots or strokes kept clear of the objects: texture the model must learn to ignore. */
function sampleClutter(rng: () => number, size: number, objects: SceneObject[]): Clutter[] {
  const count = Math.floor(rng() * 3);
  const out: Clutter[] = [];
  for (let i = 0; i < count; i++) {
    const kind = rng() < 0.5 ? 'dot' : 'line';
    const extent = round2(kind === 'dot' ? size * (0.015 + rng() * 0.015) : size * (0.06 + rng() * 0.05));
    const x = round2(rng() * size);
    const y = round2(rng() * size);
    const angle = round2(rng() * 180);
    const grey = Math.round(rng() < 0.5 ? 35 + rng() * 40 : 225 + rng() * 30);
    const r = kind === 'dot' ? extent : extent / 2;
    const box = { x: x - r, y: y - r, w: 2 * r, h: 2 * r };
    if (objects.every((o) => separated(o.box, box, 0.02 * size))) out.push({ kind, x, y, extent, angle, grey });
  }
  return out;
}

function clamp255(v: number): number {
  return Math.max(0, Math.min(255, Math.round(v)));
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}
