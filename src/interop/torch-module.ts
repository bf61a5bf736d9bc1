import { isObject, qualifiedName, type PyObject } from './pickle.js';
import { isTensor, type TorchTensor } from './pth.js';

/*
 * Whole pickled nn.Modules read as data: a module is a PyObject whose state is its __dict__, with
 * _parameters, _buffers and _modules (OrderedDicts) beside its hyper-parameters (stride, eps, ...).
 */

/** The module's class as "module.Name" (e.g. torch.nn.modules.conv.Conv2d). */
export const className = (m: PyObject): string => qualifiedName(m.cls);

/** A module's attribute from its pickled __dict__, or undefined. */
export function moduleAttr(m: PyObject, name: string): unknown {
  const state = Array.isArray(m.state) ? m.state[0] : m.state;
  return state instanceof Map ? state.get(name) : undefined;
}

/** True for a pickled object that has the dicts every nn.Module has. */
export function isModule(v: unknown): v is PyObject {
  return isObject(v) && moduleAttr(v, '_modules') instanceof Map && moduleAttr(v, '_parameters') instanceof Map;
}

/** The named child modules, in registration order. */
export function children(m: PyObject): [string, PyObject][] {
  const mods = moduleAttr(m, '_modules');
  if (!(mods instanceof Map)) return [];
  return [...mods.entries()].filter((e): e is [string, PyObject] => typeof e[0] === 'string' && isModule(e[1]));
}

/** The module's state_dict: parameters and buffers of it and its descendants, keyed as PyTorch keys them. */
export function stateDict(m: PyObject, prefix = ''): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  for (const dictName of ['_parameters', '_buffers']) {
    const d = moduleAttr(m, dictName);
    if (!(d instanceof Map)) continue;
    for (const [k, v] of d) if (isTensor(v)) out.set(`${prefix}${String(k)}`, v);
  }
  for (const [name, child] of children(m)) for (const [k, v] of stateDict(child, `${prefix}${name}.`)) out.set(k, v);
  return out;
}

/** Every module below `m` (itself included) by its dotted path. */
export function modulesByPath(m: PyObject, prefix = ''): Map<string, PyObject> {
  const out = new Map<string, PyObject>([[prefix.replace(/\.$/, ''), m]]);
  for (const [name, child] of children(m)) for (const [k, v] of modulesByPath(child, `${prefix}${name}.`)) out.set(k, v);
  return out;
}
