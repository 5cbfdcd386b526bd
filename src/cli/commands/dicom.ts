// `coreg dicom FOLDER [--json]`: list the DICOM series under a folder.
import { Command } from 'commander';
import { CoregError } from '../../errors.js';
import { listDicomSeries } from '../../io/node.js';
import { statSync } from 'node:fs';
import { commandAction } from '../common.js';

export function dicomCommand(): Command {
  return new Command('dicom')
    .description('list the DICOM series under a folder (UID, number, description, modality, files, size, spacing)')
    .argument('<FOLDER>', 'folder holding DICOM files (searched recursively)')
    .option('--json', 'print a JSON array of {uid, number, description, modality, files, size, spacing}')
    .action(
      commandAction<{ json?: boolean }>((ctx, opts, args) => {
        const folder = args[0] as string;
        let isFolder: boolean;
        try {
          isFolder = statSync(folder).isDirectory();
        } catch {
          throw new CoregError(folder, 'no such folder');
        }
        if (!isFolder) throw new CoregError(folder, 'not a folder (coreg info reads a single DICOM file)');
        const series = listDicomSeries(folder);
        if (opts.json) {
          ctx.print(JSON.stringify(series));
          return;
        }
        for (const s of series) {
          const size = s.size ? s.size.join('x') : '?';
          const spacing = s.spacing ? s.spacing.map((v) => Number(v.toPrecision(6))).join('x') + ' mm' : '? mm';
          ctx.print(`${s.uid}  #${s.number ?? '-'}  ${s.modality || '-'}  ${JSON.stringify(s.description)}  ${s.files} files  ${size}  ${spacing}`);
        }
      }),
    );
}
