/**
 * The reference's attention figure, drawn with sharp only: one panel per token (including <start>
 * and <end>), `columns` panels per row. Each panel is the image squashed to panelSize x panelSize
 * with the token's attention map on top, as the reference's matplotlib code draws it:
 * - the grid map is upsampled bilinearly to the panel and Gaussian-blurred exactly as skimage's
 *   pyramid_expand(upscale=24, sigma=8) at 336 px (checked against scikit-image 0.26 in
 *   test/fixtures/metrics/pyramid.json); sigma scales with the panel size;
 * - the blurred map is min-max normalised and coloured with matplotlib's Greys_r (white = most
 *   attention), then laid over the image at opacity 0.8; the first panel (<start>) at opacity 0;
 * - the token is written at the top left in black on a white box.
 * The upsampling and blur run in Float32 in JS rather than in sharp, whose raw pipeline would
 * quantise the map to 8 bits before blurring; sharp resizes the image, draws the text and encodes.
 */
import sharp from 'sharp';

export interface AttentionFigureOptions {
  /** Image path or encoded bytes (any format sharp reads). */
  image: string | Buffer;
  /** Tokens, '<start>' first and '<end>' last as the reference draws them. */
  words: string[];
  /** One map per word (grid*grid, row-major). The first (<start>) is not drawn; any map will do. */
  maps: ArrayLike<number>[];
  gridSize: number;
  /** Side of each panel in pixels (default 336 as the reference; at least 32). */
  panelSize?: number;
  /** Panels per row (default 5 as the reference). */
  columns?: number;
}

/** Reference values: 14x14 maps upsampled x24 to 336 px and blurred with sigma 8. */
const REFERENCE_PANEL = 336;
const REFERENCE_SIGMA = 8;
const OVERLAY_OPACITY = 0.8;
/** matplotlib's Greys (ColorBrewer) control points, reversed: Greys_r goes black -> white. */
const GREYS_R = [0x00, 0x25, 0x52, 0x73, 0x96, 0xbd, 0xd9, 0xf0, 0xff];

/** Pixel width and height of the figure for a number of words. */
export function attentionFigureSize(wordCount: number, panelSize = REFERENCE_PANEL, columns = 5): { width: number; height: number } {
  const gap = panelGap(panelSize);
  const rows = Math.ceil(wordCount / columns);
  return { width: columns * panelSize + (columns - 1) * gap, height: rows * panelSize + (rows - 1) * gap };
}

function panelGap(panelSize: number): number {
  return Math.max(2, Math.round(panelSize / 42));
}

/**
 * Bilinear upsampling of a line of `grid` values to `size`, pixel centres aligned, as skimage's
 * resize(order=1, mode='reflect'): beyond the outer centres it interpolates towards the mirrored
 * neighbour (scipy 'mirror': c b | a b c), not the edge value.
 */
function upsampleLine(line: Float64Array, size: number): Float64Array {
  const grid = line.length;
  const mirror = (i: number): number => (grid === 1 ? 0 : i < 0 ? -i : i >= grid ? 2 * (grid - 1) - i : i);
  const out = new Float64Array(size);
  for (let x = 0; x < size; x++) {
    const s = ((x + 0.5) * grid) / size - 0.5;
    const i0 = Math.floor(s);
    const f = s - i0;
    out[x] = line[mirror(i0)]! * (1 - f) + line[mirror(i0 + 1)]! * f;
  }
  return out;
}

/** Gaussian blur of a line as scipy.ndimage.gaussian_filter1d (truncate 4, mode 'reflect'). */
function blurLine(line: Float64Array, sigma: number): Float64Array {
  const size = line.length;
  const radius = Math.floor(4 * sigma + 0.5);
  const kernel = new Float64Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += kernel[i + radius] = Math.exp((-0.5 * i * i) / (sigma * sigma));
  // scipy 'reflect' mirrors about the edge, repeating the edge pixel (d c b a | a b c d | d c b a).
  const reflect = (i: number): number => {
    const period = 2 * size;
    const j = ((i % period) + period) % period;
    return j >= size ? period - 1 - j : j;
  };
  const out = new Float64Array(size);
  for (let x = 0; x < size; x++) {
    let acc = 0;
    for (let k = -radius; k <= radius; k++) acc += kernel[k + radius]! * line[reflect(x + k)]!;
    out[x] = acc / sum;
  }
  return out;
}

/**
 * A grid map upsampled to size x size and blurred: skimage's pyramid_expand(map, upscale =
 * size / grid, sigma, order=1) as the reference calls it (size 336, sigma 8 for a 14x14 grid).
 * Both steps act on rows and columns independently, so the whole expansion is out = A M A^T with
 * A (size x grid) the expansion of each unit vector: ~1.6M multiply-adds at 336 px instead of ~15M.
 */
export function expandAttentionMap(map: ArrayLike<number>, gridSize: number, size: number, sigma: number): Float32Array {
  const g = gridSize;
  const A = new Float64Array(size * g);
  for (let c = 0; c < g; c++) {
    const unit = new Float64Array(g);
    unit[c] = 1;
    const column = blurLine(upsampleLine(unit, size), sigma);
    for (let y = 0; y < size; y++) A[y * g + c] = column[y]!;
  }
  // B = A M (size x grid), then out = B A^T.
  const B = new Float64Array(size * g);
  for (let y = 0; y < size; y++) {
    for (let c = 0; c < g; c++) {
      let acc = 0;
      for (let r = 0; r < g; r++) acc += A[y * g + r]! * map[r * g + c]!;
      B[y * g + c] = acc;
    }
  }
  const out = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let acc = 0;
      for (let c = 0; c < g; c++) acc += B[y * g + c]! * A[x * g + c]!;
      out[y * size + x] = acc;
    }
  }
  return out;
}

/** Min-max normalised map coloured with Greys_r, as matplotlib's imshow does; a flat map is black. */
function toGrey(values: Float32Array): Uint8Array {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const range = max - min;
  const out = new Uint8Array(values.length);
  const last = GREYS_R.length - 1;
  for (let i = 0; i < values.length; i++) {
    const t = range > 0 ? ((values[i]! - min) / range) * last : 0;
    const k = Math.min(Math.floor(t), last - 1);
    out[i] = Math.round(GREYS_R[k]! + (GREYS_R[k + 1]! - GREYS_R[k]!) * (t - k));
  }
  return out;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function validate(o: AttentionFigureOptions, panelSize: number, columns: number): void {
  const name = 'renderAttentionFigure';
  if (o.words.length === 0) throw new Error(`${name}: words is empty; pass the tokens from <start> to <end>`);
  if (o.maps.length !== o.words.length) {
    throw new Error(
      `${name}: ${o.words.length} words but ${o.maps.length} attention maps; pass exactly one map per word, including <start> (not drawn) and <end>`,
    );
  }
  if (!Number.isInteger(o.gridSize) || o.gridSize < 1) throw new RangeError(`${name}: gridSize must be a positive integer, got ${o.gridSize}`);
  o.maps.forEach((m, i) => {
    if (m.length !== o.gridSize * o.gridSize) {
      throw new Error(`${name}: map ${i} ("${o.words[i]}") has ${m.length} values, expected gridSize^2 = ${o.gridSize ** 2}`);
    }
  });
  if (!Number.isInteger(panelSize) || panelSize < 32) throw new RangeError(`${name}: panelSize must be an integer >= 32, got ${panelSize}`);
  if (!Number.isInteger(columns) || columns < 1) throw new RangeError(`${name}: columns must be a positive integer, got ${columns}`);
}

/**
 * Renders the attention figure and returns it as PNG bytes. Throws when the number of maps differs
 * from the number of words, a map has the wrong size, or the image cannot be read.
 */
export async function renderAttentionFigure(opts: AttentionFigureOptions): Promise<Buffer> {
  const panelSize = opts.panelSize ?? REFERENCE_PANEL;
  const columns = opts.columns ?? 5;
  validate(opts, panelSize, columns);
  const P = panelSize;
  let base: Buffer;
  try {
    base = await sharp(opts.image)
      .rotate()
      .resize(P, P, { fit: 'fill', kernel: 'lanczos3' })
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer();
  } catch (err) {
    const what = typeof opts.image === 'string' ? opts.image : 'the image buffer';
    throw new Error(`renderAttentionFigure: cannot read ${what}: ${(err as Error).message}`, { cause: err });
  }
  const { width, height } = attentionFigureSize(opts.words.length, P, columns);
  const gap = panelGap(P);
  const canvas = Buffer.alloc(width * height * 3, 255);
  const sigma = (REFERENCE_SIGMA * P) / REFERENCE_PANEL;
  const fontSize = Math.max(10, Math.round(P / 14));
  const labels: string[] = [];
  opts.words.forEach((word, t) => {
    const left = (t % columns) * (P + gap);
    const top = Math.floor(t / columns) * (P + gap);
    const opacity = t === 0 ? 0 : OVERLAY_OPACITY;
    const grey = opacity > 0 ? toGrey(expandAttentionMap(opts.maps[t]!, opts.gridSize, P, sigma)) : undefined;
    for (let y = 0; y < P; y++) {
      for (let x = 0; x < P; x++) {
        const src = (y * P + x) * 3;
        const dst = ((top + y) * width + left + x) * 3;
        const g = grey ? grey[y * P + x]! : 0;
        for (let c = 0; c < 3; c++) canvas[dst + c] = Math.round(opacity * g + (1 - opacity) * base[src + c]!);
      }
    }
    const pad = Math.round(fontSize / 4);
    const boxWidth = Math.ceil(word.length * fontSize * 0.66) + 2 * pad;
    labels.push(
      `<rect x="${left}" y="${top}" width="${Math.min(boxWidth, P)}" height="${fontSize + 2 * pad}" fill="#ffffff"/>`,
      `<text x="${left + pad}" y="${top + pad + fontSize * 0.8}" font-family="DejaVu Sans" font-size="${fontSize}" fill="#000000">${escapeXml(word)}</text>`,
    );
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${labels.join('')}</svg>`;
  return sharp(canvas, { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png()
    .toBuffer();
}
