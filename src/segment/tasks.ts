/**
 * Segmentation's worker tasks: one atlas registered and warped ('segment.atlas'), one atlas scored for
 * selection ('segment.rank'). segment() posts them to a WorkerPool; worker entry files serve SEGMENT_TASKS.
 */
import type { Image } from '../image/image.js';
import type { TaskContext, TaskHandler, TaskResult } from '../parallel/serve.js';
import { transferables } from '../parallel/shared.js';
import type { RegistrationConfig } from '../register/config.js';
import type { ProgressEvent } from '../register/register.js';
import { processAtlas } from './atlas.js';
import { foregroundMask, scoreAtlas, type SelectionMeasure } from './select.js';

/** What a task reports while it runs. */
export type AtlasTaskEvent = { kind: 'progress'; event: ProgressEvent } | { kind: 'warn'; message: string };

export interface AtlasTaskInput {
  target: Image;
  image: Image;
  labels: Image;
  name: string;
  index: number;
  atlasCount: number;
  config: RegistrationConfig;
  warpImage: boolean;
}

export interface RankTaskInput {
  target: Image;
  image: Image;
  name: string;
  config: RegistrationConfig;
  measure: SelectionMeasure;
}

function forward(context: TaskContext): { onProgress: (e: ProgressEvent) => void; warn: (m: string) => void } {
  return {
    onProgress: (event) => context.emit({ kind: 'progress', event } satisfies AtlasTaskEvent),
    warn: (message) => context.emit({ kind: 'warn', message } satisfies AtlasTaskEvent),
  };
}

async function atlasTask(input: AtlasTaskInput, context: TaskContext, collect?: () => void): Promise<TaskResult> {
  const { onProgress, warn } = forward(context);
  const outcome = await processAtlas(input.target, { image: input.image, labels: input.labels, name: input.name }, input.index, input.atlasCount, {
    config: input.config,
    warpImage: input.warpImage,
    collect,
    signal: context.signal,
    warn,
    onProgress: (e) => e.registration && onProgress(e.registration),
  });
  return { output: outcome, transfer: transferables([outcome.warped?.labels, outcome.warped?.image]) };
}

async function rankTask(input: RankTaskInput, context: TaskContext): Promise<TaskResult> {
  const { onProgress, warn } = forward(context);
  const mask = foregroundMask(input.target);
  const score = await scoreAtlas(input.target, { image: input.image, name: input.name }, mask, input.measure, input.config, { signal: context.signal, warn, onProgress });
  return { output: score };
}

/**
 * The tasks, with `collect` as the atlas registrations' RegisterOptions.collect (a worker's explicit garbage
 * collection: the buffers a registration drops between its levels then go before it allocates the next ones).
 */
export function segmentTasks(collect?: () => void): Readonly<Record<string, TaskHandler>> {
  return {
    'segment.atlas': ((input: AtlasTaskInput, context: TaskContext) => atlasTask(input, context, collect)) as TaskHandler,
    'segment.rank': rankTask as TaskHandler,
  };
}

export const SEGMENT_TASKS = segmentTasks();
