import { join, resolve } from 'node:path';
import { exists, resolveModelDir } from './options.js';
import { DEFAULT_MODEL_DIR } from '../decoding/default-model.js';
import { UserError } from './user-error.js';

export { DEFAULT_MODEL_DIR };

/**
 * The model directory every command uses: --model when given (a checkpoint, or a train --out
 * directory whose best/ is used), else models/default in the working directory, else the one
 * shipped in the package (CAPTIONER_DEFAULT_MODEL points elsewhere, e.g. at a model of your own).
 */
export async function modelDirOrDefault(model: string | undefined, option = '--model'): Promise<string> {
  if (model) return resolveModelDir(model, option);
  const installed = process.env.CAPTIONER_DEFAULT_MODEL || DEFAULT_MODEL_DIR;
  for (const candidate of [resolve('models', 'default'), installed]) {
    if (await exists(join(candidate, 'model.json'))) return candidate;
  }
  throw new UserError(`no ${option} given and no default model in ${installed}; pass ${option} DIR (train one with \`captioner train --out DIR\` or \`captioner demo\`)`);
}
