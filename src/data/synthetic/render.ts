/** Rendering of a sampled scene: SVG drawn by sharp (librsvg), then per-pixel noise, then PNG. */
import sharp from 'sharp';
import type { Clutter, DrawnObject, Scene } from './scene.js';

/** The scene as an SVG document of scene.size x scene.size pixels (no text, so no font dependence). */
export function sceneToSvg(scene: Scene): string {
  const { size, background: bg } = scene;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}" viewBox="0 0 ${size} ${size}">`,
    `<defs><linearGradient id="bg" gradientUnits="userSpaceOnUse" x1="${bg.x1}" y1="${bg.y1}" x2="${bg.x2}" y2="${bg.y2}">`,
    `<stop offset="0" stop-color="${rgb(bg.from)}"/><stop offset="1" stop-color="${rgb(bg.to)}"/></linearGradient></defs>`,
    `<rect width="${size}" height="${size}" fill="url(#bg)"/>`,
    ...scene.clutter.map(clutterSvg),
    ...scene.objects.map(objectSvg),
    '</svg>',
  ];
  return parts.join('');
}

/** Renders the scene to PNG bytes; noise draws from rng (a per-image generator keeps this deterministic). */
export async function renderScenePng(scene: Scene, rng: () => number): Promise<Buffer> {
  const { data, info } = await sharp(Buffer.from(sceneToSvg(scene)))
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (scene.noise > 0) {
    const amp = scene.noise;
    for (let i = 0; i < data.length; i++) {
      data[i] = Math.max(0, Math.min(255, Math.round((data[i] as number) + (rng() * 2 - 1) * amp)));
    }
  }
  return sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } })
    .png({ compressionLevel: 6, adaptiveFiltering: false })
    .toBuffer();
}

function objectSvg(d: DrawnObject): string {
  const { box, shape } = d.object;
  const s = box.w;
  const cx = f(box.x + s / 2);
  const cy = f(box.y + s / 2);
  const fill = rgb(d.fill);
  const at = `transform="translate(${cx} ${cy}) rotate(${d.rotation})" fill="${fill}"`;
  switch (shape) {
    case 'circle':
      return `<circle cx="${cx}" cy="${cy}" r="${f(0.48 * s)}" fill="${fill}"/>`;
    case 'square':
      return `<rect x="${f(-0.39 * s)}" y="${f(-0.39 * s)}" width="${f(0.78 * s)}" height="${f(0.78 * s)}" ${at}/>`;
    case 'triangle': {
      // Equilateral, side 0.76 s, centred on its bounding box so rotation keeps it inside the box.
      const side = 0.76 * s;
      const h = side * 0.866;
      return polygon([[0, -h / 2], [side / 2, h / 2], [-side / 2, h / 2]], at);
    }
    case 'diamond':
      return polygon([[0, -0.5 * s], [0.34 * s, 0], [0, 0.5 * s], [-0.34 * s, 0]], at);
    case 'star': {
      const pts: Array<[number, number]> = [];
      for (let k = 0; k < 10; k++) {
        const r = (k % 2 === 0 ? 0.5 : 0.21) * s;
        const a = -Math.PI / 2 + (k * Math.PI) / 5;
        pts.push([r * Math.cos(a), r * Math.sin(a)]);
      }
      return polygon(pts, at);
    }
    case 'cross': {
      const a = 0.15 * s;
      const b = 0.47 * s;
      return polygon([[-a, -b], [a, -b], [a, -a], [b, -a], [b, a], [a, a], [a, b], [-a, b], [-a, a], [-b, a], [-b, -a], [-a, -a]], at);
    }
    default:
      throw new Error(`render: unknown shape ${shape}`);
  }
}

function clutterSvg(c: Clutter): string {
  const colour = `rgb(${c.grey},${c.grey},${c.grey})`;
  if (c.kind === 'dot') return `<circle cx="${c.x}" cy="${c.y}" r="${c.extent}" fill="${colour}"/>`;
  const h = c.extent / 2;
  return `<line x1="${-h}" y1="0" x2="${h}" y2="0" stroke="${colour}" stroke-width="${f(Math.max(1, c.extent / 6))}" transform="translate(${c.x} ${c.y}) rotate(${c.angle})"/>`;
}

function polygon(points: Array<[number, number]>, attrs: string): string {
  return `<polygon points="${points.map(([x, y]) => `${f(x)},${f(y)}`).join(' ')}" ${attrs}/>`;
}

function rgb([r, g, b]: readonly number[]): string {
  return `rgb(${r},${g},${b})`;
}

function f(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}
