import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';

/**
 * tf.io handlers over the local file system. Pure tfjs has no file:// handler in Node (that lives in
 * tfjs-node, which cannot be installed here), so models on disk are read and written with fs.
 */

/** Loads model.json and its weight shards from a directory (LayersModel or GraphModel format). */
export function fileSystemLoader(dir: string): tf.io.IOHandler {
  return {
    load: async (): Promise<tf.io.ModelArtifacts> => {
      const jsonPath = path.join(dir, 'model.json');
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await fs.readFile(jsonPath, 'utf8')) as tf.io.ModelJSON;
      } catch (err) {
        throw new Error(`${jsonPath}: cannot read a tfjs model.json (${(err as Error).message}); point encoder.path at a directory written by tf.io / tensorflowjs_converter`, { cause: err });
      }
      return tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const specs: tf.io.WeightsManifestEntry[] = [];
        const buffers: ArrayBuffer[] = [];
        for (const group of manifest) {
          specs.push(...group.weights);
          for (const shard of group.paths) {
            const file = path.join(dir, shard);
            const bytes = await fs.readFile(file).catch((err: unknown) => {
              throw new Error(`${file}: weight shard listed in ${jsonPath} is missing or unreadable (${(err as Error).message})`, { cause: err });
            });
            buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
          }
        }
        return [specs, tf.io.concatenateArrayBuffers(buffers)];
      });
    },
  };
}

/** Saves a model as model.json + weights.bin into dir (created if needed); used by tests and tools. */
export function fileSystemSaver(dir: string): tf.io.IOHandler {
  return {
    save: async (artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> => {
      await fs.mkdir(dir, { recursive: true });
      const data = artifacts.weightData ?? new ArrayBuffer(0);
      const weights = Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
      };
      if (artifacts.signature) modelJson.signature = artifacts.signature;
      if (artifacts.userDefinedMetadata) modelJson.userDefinedMetadata = artifacts.userDefinedMetadata;
      await fs.writeFile(path.join(dir, 'weights.bin'), Buffer.from(weights));
      await fs.writeFile(path.join(dir, 'model.json'), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}
