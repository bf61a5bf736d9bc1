/**
 * Content accuracy of a caption of a synthetic scene: the caption is parsed with the grammar of
 * captions.ts and each claim is checked against the scene's objects. Lenient geometry applies (a
 * claim a person would accept is accepted); an unparseable caption is incorrect.
 */
import type { SceneObject } from '../types.js';
import { END, PAD, START } from '../vocabulary.js';
import { positionHolds, relationHolds, type Position, type Relation } from './geometry.js';
import { isColorWord, isPluralShapeWord, shapeOfWord, sizeOfWord, type Color, type Shape, type Size } from './lexicon.js';
import { COUNT_WORDS, GENERIC_PLURAL, POSITION_PHRASES, RELATION_PHRASES } from './phrases.js';

export interface CaptionCheck {
  correct: boolean;
  /** One line per false claim (or the parse error); empty when correct. */
  errors: string[];
  /**
   * How many objects the caption names ("a red circle" 1, "two circles" 2; a relation's object
   * counts too); 0 when unparseable. A correct caption can still leave objects out: this says how many.
   */
  mentions: number;
}

interface NounPhrase {
  /** Exact count for "two"/"three"; undefined for "a"/"an" (at least one). */
  count: number | undefined;
  size?: Size;
  color?: Color;
  shape?: Shape;
  text: string;
}

interface Clause {
  subject: NounPhrase;
  relation?: { rel: Relation; object: NounPhrase; text: string };
  position?: { pos: Position; text: string };
}

class ParseError extends Error {}

const SPECIAL_TOKENS = new Set([START, END, PAD]);

/**
 * Checks every claim of a caption against the scene: the objects named exist, counts are exact,
 * sizes, relations and positions hold, and distinct mentions are distinct objects. <start>, <end>
 * and <pad> are ignored; any other word outside the grammar (<unk> included) makes it unparseable.
 * Agreement of "a"/"an" and "is"/"are" is not checked: that is grammar, not content.
 */
export function checkCaption(words: string[], objects: SceneObject[], imageSize: number): CaptionCheck {
  let clauses: Clause[];
  try {
    clauses = parse(words.filter((w) => !SPECIAL_TOKENS.has(w)));
  } catch (err) {
    if (err instanceof ParseError) return { correct: false, errors: [`unparseable: ${err.message}`], mentions: 0 };
    throw err;
  }
  const matches = (np: NounPhrase): SceneObject[] =>
    objects.filter((o) => (!np.size || o.size === np.size) && (!np.color || o.color === np.color) && (!np.shape || o.shape === np.shape));

  const mentions = clauses.reduce((n, c) => n + (c.subject.count ?? 1) + (c.relation ? (c.relation.object.count ?? 1) : 0), 0);
  const errors: string[] = [];
  for (const clause of clauses) {
    for (const np of clause.relation ? [clause.subject, clause.relation.object] : [clause.subject]) {
      const n = matches(np).length;
      if (np.count === undefined && n === 0) errors.push(`"${np.text}": there is none`);
      if (np.count !== undefined && n !== np.count) errors.push(`"${np.text}": the scene has ${n}`);
    }
  }
  if (errors.length > 0) return { correct: false, errors, mentions };

  for (const clause of clauses) {
    const xs = matches(clause.subject);
    const quantify = (np: NounPhrase, set: SceneObject[], test: (o: SceneObject) => boolean): boolean =>
      np.count === undefined ? set.some(test) : set.every(test);
    const { relation, position } = clause;
    if (relation) {
      const ys = matches(relation.object);
      const holds = (x: SceneObject, y: SceneObject): boolean => x !== y && relationHolds(relation.rel, x, y, imageSize, 'lenient');
      if (!quantify(clause.subject, xs, (x) => quantify(relation.object, ys, (y) => holds(x, y)))) {
        errors.push(`"${clause.subject.text} ${relation.text} ${relation.object.text}" is false`);
      }
    }
    if (position && !quantify(clause.subject, xs, (x) => positionHolds(position.pos, x, imageSize, 'lenient'))) {
      errors.push(`"${clause.subject.text} ${position.text}" is false`);
    }
  }
  if (errors.length > 0) return { correct: false, errors, mentions };
  if (!jointlySatisfiable(clauses, matches, imageSize)) {
    errors.push('the caption names more distinct objects than the scene has');
  }
  return { correct: errors.length === 0, errors, mentions };
}

/**
 * Each clause holds on its own; this checks they hold together with distinct objects for distinct
 * mentions ("a red circle and a red circle" needs two). Scenes have at most a handful of objects,
 * so trying every assignment is cheap.
 */
function jointlySatisfiable(clauses: Clause[], matches: (np: NounPhrase) => SceneObject[], size: number): boolean {
  const vars: NounPhrase[] = [];
  for (const c of clauses) {
    if (c.subject.count === undefined) vars.push(c.subject);
    if (c.relation && c.relation.object.count === undefined) vars.push(c.relation.object);
  }
  const pluralSubjects = new Set(clauses.filter((c) => c.subject.count !== undefined).flatMap((c) => matches(c.subject)));
  const chosen = new Map<NounPhrase, SceneObject>();
  const setOf = (np: NounPhrase): SceneObject[] => {
    const one = chosen.get(np);
    return one ? [one] : matches(np);
  };
  const valid = (): boolean => {
    const subjects = clauses.map((c) => chosen.get(c.subject)).filter((o): o is SceneObject => o !== undefined);
    if (new Set(subjects).size !== subjects.length || subjects.some((o) => pluralSubjects.has(o))) return false;
    return clauses.every((c) => {
      const xs = setOf(c.subject);
      const okPosition = !c.position || xs.every((x) => positionHolds(c.position!.pos, x, size, 'lenient'));
      const rel = c.relation;
      const okRelation =
        !rel || xs.every((x) => setOf(rel.object).every((y) => x !== y && relationHolds(rel.rel, x, y, size, 'lenient')));
      return okPosition && okRelation;
    });
  };
  const search = (i: number): boolean => {
    if (i === vars.length) return valid();
    const np = vars[i] as NounPhrase;
    for (const o of matches(np)) {
      chosen.set(np, o);
      if (search(i + 1)) return true;
    }
    chosen.delete(np);
    return false;
  };
  return search(0);
}

function parse(words: string[]): Clause[] {
  if (words.length === 0) throw new ParseError('empty caption');
  let i = 0;
  if (words[0] === 'there') {
    if (words[1] !== 'is' && words[1] !== 'are') throw new ParseError(`"there" must be followed by "is" or "are"`);
    i = 2;
  }
  const clauses: Clause[] = [];
  for (;;) {
    const subject = nounPhrase();
    const clause: Clause = { subject };
    const rel = RELATION_PHRASES.find((p) => startsWith(p.tokens));
    const pos = rel ? undefined : POSITION_PHRASES.find((p) => startsWith(p.tokens));
    if (rel) {
      i += rel.tokens.length;
      clause.relation = { rel: rel.rel, object: nounPhrase(), text: rel.tokens.join(' ') };
    } else if (pos) {
      i += pos.tokens.length;
      clause.position = { pos: pos.pos, text: pos.tokens.join(' ') };
    }
    clauses.push(clause);
    if (i === words.length) return clauses;
    if (words[i] !== 'and' && words[i] !== 'with') throw new ParseError(`unexpected "${words[i]}" at word ${i + 1}`);
    i++;
  }

  function startsWith(tokens: readonly string[]): boolean {
    return tokens.every((t, k) => words[i + k] === t);
  }

  function nounPhrase(): NounPhrase {
    const start = i;
    const det = words[i++];
    let count: number | undefined;
    if (det === 'a' || det === 'an') count = undefined;
    else if (det !== undefined && COUNT_WORDS[det] !== undefined) count = COUNT_WORDS[det];
    else throw new ParseError(`expected "a", "an", "two" or "three" at word ${start + 1}, got ${det === undefined ? 'the end' : `"${det}"`}`);
    const np: NounPhrase = { count, text: '' };
    const size = sizeOfWord(words[i] ?? '');
    if (size) {
      np.size = size;
      i++;
    }
    const color = words[i] ?? '';
    if (isColorWord(color)) {
      np.color = color;
      i++;
    }
    const noun = words[i] ?? '';
    const plural = noun === GENERIC_PLURAL || isPluralShapeWord(noun);
    const shape = shapeOfWord(noun);
    if (!shape && noun !== GENERIC_PLURAL) throw new ParseError(`expected a shape at word ${i + 1}, got ${noun ? `"${noun}"` : 'the end'}`);
    if (plural !== (count !== undefined)) throw new ParseError(`"${det}" does not agree with "${noun}"`);
    if (shape) np.shape = shape;
    i++;
    np.text = words.slice(start, i).join(' ');
    return np;
  }
}
