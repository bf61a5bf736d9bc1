import { join } from 'node:path';
import { packageRoot } from '../io/package-root.js';

/** The model shipped with the package (trained on the synthetic shapes; see models/default/README.md). */
export const DEFAULT_MODEL_DIR = join(packageRoot(), 'models', 'default');
