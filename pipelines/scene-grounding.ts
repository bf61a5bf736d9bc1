import type { CaptionedImage, SceneObject } from '../src/data/types.js';
import { checkCaption, objectMatchesWord, wordClass } from '../src/data/synthetic/index.js';
import { attentionHitRate, type AttentionHitResult } from '../src/metrics/index.js';
import type { DescribeEvent } from './describe-images.js';

/** One caption of a synthetic scene: what the model said, where it looked, and what the scene holds. */
export interface GroundedCaption {
  id: string;
  caption: string;
  /** Generated words (a trailing <end> is ignored by both checks). */
  words: string[];
  /** One map per word, as beam search records them. */
  attention: ArrayLike<number>[];
  gridSize: number;
  objects: SceneObject[];
  /** Size of the image the object boxes are in. */
  width: number;
  height: number;
}

/** A captioned image as sceneGrounding reads it, or undefined when the image has no scene annotations. */
export function groundedCaption(e: Extract<DescribeEvent<CaptionedImage>, { kind: 'captioned' }>): GroundedCaption | undefined {
  const { item, result, image } = e;
  if (!item.objects) return undefined;
  return {
    id: item.id, caption: result.caption, words: result.best.words, attention: result.best.attention, gridSize: result.gridSize, objects: item.objects,
    width: item.width ?? image.sourceWidth, height: item.height ?? image.sourceHeight,
  };
}

/** Is each caption true of its scene, and complete? (checkCaption over a split.) */
export interface ContentReport {
  accuracy: number;
  correct: number;
  checked: number;
  /** Captions that are correct and name every object of the scene (terse correct captions are not). */
  completeAccuracy: number;
  /** Mean over images of min(1, objects named / objects in the scene). */
  objectCoverage: number;
  examples: Array<{ id: string; caption: string; errors: string[] }>;
}

/**
 * What the scene annotations say about a set of captions: content accuracy from checkCaption and the
 * attention hit rate (does the map peak on the object a shape or colour word names). Shared by
 * `captioner eval` and training's validation, so both report the same figures.
 */
export function sceneGrounding(samples: GroundedCaption[]): { content: ContentReport; attention: AttentionHitResult } {
  const checks = samples.map((s) => ({ s, check: checkCaption(s.words, s.objects, s.width) }));
  const correct = checks.filter((c) => c.check.correct).length;
  const complete = checks.filter((c) => c.check.correct && c.check.mentions >= c.s.objects.length).length;
  const coverage = checks.reduce((sum, c) => sum + Math.min(1, c.check.mentions / Math.max(1, c.s.objects.length)), 0);
  const n = Math.max(1, checks.length);
  return {
    content: {
      accuracy: correct / n,
      correct,
      checked: checks.length,
      completeAccuracy: complete / n,
      objectCoverage: coverage / n,
      examples: checks.filter((c) => !c.check.correct).slice(0, 5).map((c) => ({ id: c.s.id, caption: c.s.caption, errors: c.check.errors })),
    },
    attention: attentionHitRate(
      samples.map((s) => ({ words: s.words, maps: s.attention, gridSize: s.gridSize, imageSize: { width: s.width, height: s.height }, objects: s.objects })),
      wordClass,
      objectMatchesWord,
    ),
  };
}
