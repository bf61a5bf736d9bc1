/** Minimal DOM helpers: the dashboard is plain TypeScript, so element creation is kept terse here. */

type Attrs = Record<string, string | number | boolean | undefined>;

/** Creates an element with attributes (class, data-*, title...) and children (strings become text). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/** Sets textContent only when it changed (avoids layout work at frame rate). */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

/** Finds a required element by selector or throws naming the selector (a broken index.html fails loudly). */
export function $(selector: string, root: ParentNode = document): HTMLElement {
  const el = root.querySelector<HTMLElement>(selector);
  if (!el) throw new Error(`dashboard: element "${selector}" missing from index.html`);
  return el;
}
