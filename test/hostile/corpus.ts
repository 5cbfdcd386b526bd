// A corpus of hostile inputs for the command line, built in a temporary folder: every case of issue 12 (files
// naming files outside their folder, devices and FIFOs, decompression bombs, damaged gzip, outputs that would
// overwrite inputs, folders in the way of outputs, absurd option values, bad settings). Each case lives in its
// own folder; `outside/` beside them holds sentinel files that a case must never read.
import { execFileSync } from 'node:child_process';
import { gzipSync, deflateSync } from 'node:zlib';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createImage, type Image } from '../../src/image/image.js';
import { writeImageFile } from '../../src/io/node.js';
import { writeNifti } from '../../src/io/nifti.js';
import { writePng } from '../../src/io/png.js';
import { formatItkTransformFile } from '../../src/transform/itk-tfm.js';
import { TranslationTransform } from '../../src/transform/linear.js';

export interface HostileCase {
  /** Short id; also the case's folder name. */
  name: string;
  /** The issue's wording of the case (the note lists each with its result). */
  issue: string;
  /** The command line (absolute paths). */
  args: string[];
  /** Expected exit code: 1 failure, 2 bad usage. */
  code: 1 | 2;
  /** The one stderr line must match this. */
  message: RegExp;
  /** Paths that must not exist after the run (outputs). */
  absent?: string[];
  /** Files whose bytes must be unchanged after the run (inputs). */
  unchanged?: string[];
}

export interface Corpus {
  root: string;
  outside: string;
  cases: HostileCase[];
  /** Text of the sentinel file outside: must never appear in any output or message. */
  sentinelText: string;
}

function image2d(nx = 10, ny = 8): Image {
  const img = createImage([nx, ny], 'uint8');
  for (let i = 0; i < img.data.length; i++) img.data[i] = (i * 7) % 251;
  return img;
}

function field2d(nx = 10, ny = 8, value = 0.5): Image {
  const f = createImage([nx, ny], 'float32', { components: 2 });
  f.data.fill(value);
  return f;
}

/** A MetaImage header for a 10×8 uint8 image whose pixels are in `dataFile`. */
function mhd(dataFile: string, extra = ''): string {
  return `ObjectType = Image\nNDims = 2\nDimSize = 10 8\nElementSpacing = 1 1\nElementType = MET_UCHAR\n${extra}ElementDataFile = ${dataFile}\n`;
}

function nhdr(dataFile: string): string {
  return `NRRD0004\ntype: uint8\ndimension: 2\nsizes: 10 8\nspacings: 1 1\nencoding: raw\ndata file: ${dataFile}\n\n`;
}

/** `copies` gzip members of 1 MiB of zeros each (a valid multi-member stream: copies MiB of zeros). */
function zeroMembers(copies: number): Buffer {
  const one = gzipSync(Buffer.alloc(1 << 20), { level: 9 });
  return Buffer.concat(Array.from({ length: copies }, () => one));
}

/** A PNG with the given IHDR and IDAT payload (chunk CRCs right). */
function pngWith(width: number, height: number, depth: number, colorType: number, idat: Uint8Array): Buffer {
  const crcTable = new Int32Array(256).map((_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c;
  });
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const b = Buffer.alloc(12 + data.length);
    b.writeUInt32BE(data.length, 0);
    b.write(type, 4, 'latin1');
    Buffer.from(data).copy(b, 8);
    let c = -1;
    for (let i = 4; i < 8 + data.length; i++) c = crcTable[(c ^ b[i]) & 0xff] ^ (c >>> 8);
    b.writeUInt32BE((c ^ -1) >>> 0, 8 + data.length);
    return b;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))]);
}

/** Builds the corpus under `root` (which must exist and be empty). */
export function buildCorpus(root: string): Corpus {
  const outside = join(root, 'outside');
  mkdirSync(outside);
  const sentinelText = 'SENTINEL-never-read-me';
  // 80 bytes: exactly what a 10×8 uint8 header asks for, so a breach would "work" and show as exit 0.
  const secret = join(outside, 'secret.raw');
  writeFileSync(secret, sentinelText.repeat(4).slice(0, 80));
  writeFileSync(join(outside, 'secret.txt'), `${sentinelText} 1 2 3\n`);
  const outsideField = join(outside, 'field.nii.gz');
  writeImageFile(outsideField, field2d());

  const cases: HostileCase[] = [];
  const dir = (name: string): string => {
    const d = join(root, name);
    mkdirSync(d);
    return d;
  };
  const add = (c: HostileCase) => cases.push(c);

  // ---- reading what was not meant to be read ----
  for (const [name, dataFile, issue] of [
    ['mhd-absolute', secret, 'MetaImage ElementDataFile = /etc/passwd (absolute path)'],
    ['mhd-dotdot', '../outside/secret.raw', 'MetaImage ElementDataFile = ../ path'],
    ['mhd-dev-zero', '/dev/zero', 'MetaImage ElementDataFile = /dev/zero'],
  ] as const) {
    const d = dir(name);
    writeFileSync(join(d, 'a.mhd'), mhd(dataFile));
    add({ name, issue, args: ['convert', join(d, 'a.mhd'), join(d, 'out.nrrd')], code: 1, message: /must be in its folder/, absent: [join(d, 'out.nrrd'), join(d, 'out.raw')] });
  }
  {
    const d = dir('mhd-list');
    writeFileSync(join(d, 'ok.raw'), Buffer.alloc(40));
    writeFileSync(join(d, 'a.mhd'), mhd('LIST\nok.raw\n../outside/secret.raw').replace('DimSize = 10 8', 'DimSize = 10 8'));
    add({ name: 'mhd-list', issue: 'MetaImage ElementDataFile = LIST naming ../ files', args: ['convert', join(d, 'a.mhd'), join(d, 'out.nrrd')], code: 1, message: /outside the folder/, absent: [join(d, 'out.nrrd')] });
  }
  {
    const d = dir('mhd-ascii');
    writeFileSync(join(d, 'a.mhd'), mhd('../outside/secret.txt', 'BinaryData = False\n'));
    add({ name: 'mhd-ascii', issue: 'ASCII MetaImage naming an outside file (its first token printed)', args: ['info', join(d, 'a.mhd')], code: 1, message: /outside the folder/ });
  }
  {
    const d = dir('mhd-symlink');
    symlinkSync(secret, join(d, 'inside.raw'));
    writeFileSync(join(d, 'a.mhd'), mhd('inside.raw'));
    add({ name: 'mhd-symlink', issue: 'data file that is a symbolic link out of the folder', args: ['convert', join(d, 'a.mhd'), join(d, 'out.nii')], code: 1, message: /links outside the folder/, absent: [join(d, 'out.nii')] });
  }
  {
    const d = dir('mhd-fifo');
    execFileSync('mkfifo', [join(d, 'pipe.raw')]);
    writeFileSync(join(d, 'a.mhd'), mhd('pipe.raw'));
    add({ name: 'mhd-fifo', issue: 'a FIFO as data file (blocked forever)', args: ['convert', join(d, 'a.mhd'), join(d, 'out.nii')], code: 1, message: /not a regular file/, absent: [join(d, 'out.nii')] });
  }
  {
    const d = dir('mhd-dev-zero-allowed');
    writeFileSync(join(d, 'a.mhd'), mhd('/dev/zero'));
    add({ name: 'mhd-dev-zero-allowed', issue: '/dev/zero as data file with --allow-outside-paths (grew to 4.8 GB)', args: ['--allow-outside-paths', 'info', join(d, 'a.mhd')], code: 1, message: /not a regular file/ });
  }
  {
    const d = dir('mhd-too-big');
    writeFileSync(join(d, 'big.raw'), Buffer.alloc(4096));
    writeFileSync(join(d, 'a.mhd'), mhd('big.raw'));
    add({ name: 'mhd-too-big', issue: 'data file larger than the header declares (size bound before reading)', args: ['info', join(d, 'a.mhd')], code: 1, message: /too large/ });
  }
  for (const [name, dataFile] of [
    ['nhdr-absolute', secret],
    ['nhdr-dotdot', '../outside/secret.raw'],
  ] as const) {
    const d = dir(name);
    writeFileSync(join(d, 'a.nhdr'), nhdr(dataFile));
    add({ name, issue: 'NRRD "data file:" absolute / ../ path', args: ['convert', join(d, 'a.nhdr'), join(d, 'out.mha')], code: 1, message: /must be in its folder/, absent: [join(d, 'out.mha')] });
  }
  // result.json naming files outside its folder.
  const fixedImage = image2d();
  for (const [name, entry, issue] of [
    ['result-absolute', secret, 'result.json "transforms": ["/etc/passwd"]'],
    ['result-dotdot-field', '../outside/field.nii.gz', 'result.json "transforms": ["../../elsewhere/field.nii.gz"]'],
    ['result-dev-zero', '/dev/zero', 'result.json "transforms": ["/dev/zero"]'],
  ] as const) {
    const d = dir(name);
    const r = join(d, 'r');
    mkdirSync(r);
    writeFileSync(join(r, 'result.json'), JSON.stringify({ transforms: [entry] }));
    writeImageFile(join(d, 'f.nii'), fixedImage);
    add({
      name,
      issue,
      args: ['apply', '--reference', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--transform', r, '--out', join(d, 'out.nii')],
      code: 1,
      message: /must be in its folder/,
      absent: [join(d, 'out.nii')],
    });
  }

  // ---- decompression ----
  const goodNifti = writeNifti(image2d(), { gzip: false });
  const goodGz = gzipSync(goodNifti);
  {
    const d = dir('gz-flipped');
    const bad = Buffer.from(goodGz);
    // Two bytes inside the deflate data (not the header or trailer).
    bad[Math.floor(bad.length / 2)] ^= 0x10;
    bad[Math.floor(bad.length / 2) + 7] ^= 0x01;
    writeFileSync(join(d, 'a.nii.gz'), bad);
    add({ name: 'gz-flipped', issue: 'two flipped bytes inside a .nii.gz (pixel values up to 7e36, exit 0)', args: ['convert', join(d, 'a.nii.gz'), join(d, 'out.nii')], code: 1, message: /corrupt compressed data|CRC/, absent: [join(d, 'out.nii')] });
  }
  {
    const d = dir('gz-bad-crc');
    const bad = Buffer.from(goodGz);
    bad[bad.length - 8] ^= 0xff;
    writeFileSync(join(d, 'a.nii.gz'), bad);
    add({ name: 'gz-bad-crc', issue: 'a wrong CRC trailer', args: ['info', join(d, 'a.nii.gz')], code: 1, message: /CRC-32 mismatch/ });
  }
  {
    const d = dir('gz-isize');
    const bad = Buffer.from(goodGz);
    bad.writeUInt32LE(0xfffffff0, bad.length - 4);
    writeFileSync(join(d, 'a.nii.gz'), bad);
    add({ name: 'gz-isize', issue: 'ISIZE trailer trusted (4-byte field made coreg allocate ~4 GB)', args: ['info', join(d, 'a.nii.gz')], code: 1, message: /size mismatch/ });
  }
  {
    const d = dir('gz-zeros');
    // 1 GiB of zeros in 1 MiB gzip members (~1 MB file): the header (all zeros) is refused after 544 bytes.
    writeFileSync(join(d, 'a.nii.gz'), zeroMembers(1024));
    add({ name: 'gz-zeros', issue: '.nii.gz of GiBs of zeros (ran > 400 s at 2.2 GB)', args: ['info', join(d, 'a.nii.gz')], code: 1, message: /not a NIfTI file/ });
  }
  {
    const d = dir('gz-trailing-zeros');
    writeFileSync(join(d, 'a.nii.gz'), Buffer.concat([goodGz, zeroMembers(1024)]));
    add({ name: 'gz-trailing-zeros', issue: 'a valid image followed by 1 GiB of zeros (took 1 GB)', args: ['convert', join(d, 'a.nii.gz'), join(d, 'out.nii')], code: 1, message: /too large.*header declares/, absent: [join(d, 'out.nii')] });
  }
  {
    const d = dir('mha-zlib-bomb');
    const bomb = deflateSync(Buffer.alloc(64 << 20), { level: 9 });
    const header = `ObjectType = Image\nNDims = 2\nDimSize = 10 8\nElementType = MET_UCHAR\nCompressedData = True\nCompressedDataSize = ${bomb.length}\nElementDataFile = LOCAL\n`;
    writeFileSync(join(d, 'a.mha'), Buffer.concat([Buffer.from(header), bomb]));
    add({ name: 'mha-zlib-bomb', issue: 'MetaImage zlib bomb (4.65 GB)', args: ['info', join(d, 'a.mha')], code: 1, message: /too large.*header declares/ });
  }
  {
    const d = dir('mha-huge-declared');
    writeFileSync(join(d, 'a.mha'), 'ObjectType = Image\nNDims = 3\nDimSize = 4096 4096 1024\nElementType = MET_FLOAT\nCompressedData = True\nElementDataFile = LOCAL\nx');
    add({ name: 'mha-huge-declared', issue: 'MetaImage header declaring 64 GiB', args: ['info', join(d, 'a.mha')], code: 1, message: /too large|exceeds the limit/ });
  }
  {
    const d = dir('png-bomb');
    // 30000² RGBA16 declared (7.2 GB): refused from IHDR before inflating.
    writeFileSync(join(d, 'a.png'), pngWith(30000, 30000, 16, 6, deflateSync(Buffer.alloc(1 << 20))));
    add({ name: 'png-bomb', issue: 'PNG bomb (30000² RGBA16, 7 MB file, > 6 GB)', args: ['info', join(d, 'a.png')], code: 1, message: /too large/ });
  }
  {
    const d = dir('png-idat-bomb');
    // 100×100 grey declared; the IDAT inflates to 64 MiB.
    writeFileSync(join(d, 'a.png'), pngWith(100, 100, 8, 0, deflateSync(Buffer.alloc(64 << 20), { level: 9 })));
    add({ name: 'png-idat-bomb', issue: 'PNG whose data inflates far beyond its IHDR', args: ['info', join(d, 'a.png')], code: 1, message: /too large/ });
  }

  // ---- overwriting inputs ----
  const identityTfm = formatItkTransformFile([new TranslationTransform(2)]);
  const resultFolder = (r: string, files: Record<string, string | Image>): void => {
    mkdirSync(r, { recursive: true });
    for (const [n, v] of Object.entries(files)) {
      if (typeof v === 'string') writeFileSync(join(r, n), v);
      else writeImageFile(join(r, n), v);
    }
    writeFileSync(join(r, 'result.json'), JSON.stringify({ stages: [], seconds: 0, transforms: Object.keys(files) }));
  };
  {
    const d = dir('register-initial-out');
    const r = join(d, 'r');
    resultFolder(r, { 'transform.tfm': identityTfm });
    writeImageFile(join(d, 'f.nii'), fixedImage);
    add({
      name: 'register-initial-out',
      issue: 'register --initial r --out r',
      args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--initial', r, '--out', r, '--transform', 'translation', '--iterations', '2', '--quiet'],
      code: 1,
      message: /would overwrite the input/,
      unchanged: [join(r, 'transform.tfm'), join(r, 'result.json')],
    });
  }
  {
    const d = dir('difference-out-transform');
    writeImageFile(join(d, 'f.nii'), fixedImage);
    writeImageFile(join(d, 'F.nii.gz'), field2d());
    add({
      name: 'difference-out-transform',
      issue: 'eval difference --transform F --out F',
      args: ['eval', 'difference', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--transform', join(d, 'F.nii.gz'), '--out', join(d, 'F.nii.gz')],
      code: 1,
      message: /would overwrite the input/,
      unchanged: [join(d, 'F.nii.gz')],
    });
  }
  {
    const d = dir('apply-out-warp');
    const s = join(d, 's');
    resultFolder(s, { 'warp.nii.gz': field2d() });
    writeImageFile(join(d, 'f.nii'), fixedImage);
    add({
      name: 'apply-out-warp',
      issue: 'apply --transform s --out s/warp.nii.gz',
      args: ['apply', '--reference', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--transform', s, '--out', join(s, 'warp.nii.gz')],
      code: 1,
      message: /would overwrite the input/,
      unchanged: [join(s, 'warp.nii.gz')],
    });
    add({
      name: 'jacobian-out-warp',
      issue: 'eval jacobian s --out s/warp.nii.gz',
      args: ['eval', 'jacobian', s, '--reference', join(d, 'f.nii'), '--out', join(s, 'warp.nii.gz')],
      code: 1,
      message: /would overwrite the input/,
      unchanged: [join(s, 'warp.nii.gz')],
    });
  }
  {
    const d = dir('points-out-tfm');
    const r = join(d, 'r');
    resultFolder(r, { 'transform.tfm': identityTfm });
    writeFileSync(join(d, 'p.csv'), 'x,y\n1,2\n');
    add({
      name: 'points-out-tfm',
      issue: 'points --transform r --out r/transform.tfm',
      args: ['points', '--transform', r, '--in', join(d, 'p.csv'), '--out', join(r, 'transform.tfm')],
      code: 1,
      message: /would overwrite the input|point file/,
      unchanged: [join(r, 'transform.tfm')],
    });
  }
  {
    const d = dir('convert-nhdr-raw');
    writeFileSync(join(d, 'X.raw'), Buffer.alloc(80, 3));
    writeFileSync(join(d, 'X.nhdr'), nhdr('X.raw'));
    add({ name: 'convert-nhdr-raw', issue: "convert X.nhdr X.mhd rewrote X.nhdr's data file X.raw", args: ['convert', join(d, 'X.nhdr'), join(d, 'X.mhd')], code: 1, message: /would overwrite the input/, unchanged: [join(d, 'X.raw')], absent: [join(d, 'X.mhd')] });
  }
  {
    const d = dir('convert-symlink-out');
    writeImageFile(join(d, 'a.nii'), fixedImage);
    symlinkSync(join(d, 'a.nii'), join(d, 'link.nii'));
    add({ name: 'convert-symlink-out', issue: 'output that is a link to the input', args: ['convert', join(d, 'a.nii'), join(d, 'link.nii')], code: 1, message: /would overwrite the input/, unchanged: [join(d, 'a.nii')] });
  }
  {
    const d = dir('segment-probabilities');
    const D = join(d, 'D');
    mkdirSync(D);
    const labels = createImage([10, 8], 'uint8');
    for (let i = 0; i < labels.data.length; i++) labels.data[i] = i % 10 < 5 ? 1 : 0;
    writeImageFile(join(D, 'label_1.nii.gz'), labels);
    writeImageFile(join(d, 't.nii'), fixedImage);
    add({
      name: 'segment-probabilities',
      issue: 'segment --probabilities D overwrote atlas labels that live in D',
      args: ['segment', '--target', join(d, 't.nii'), '--atlas', `${join(d, 't.nii')},${join(D, 'label_1.nii.gz')}`, '--out', join(d, 'seg.nii.gz'), '--probabilities', D, '--quiet', '--threads', '1'],
      code: 1,
      message: /would overwrite the input/,
      unchanged: [join(D, 'label_1.nii.gz')],
      absent: [join(d, 'seg.nii.gz')],
    });
  }

  // ---- half results: a folder in the way is found before any work; nothing is written ----
  {
    const d = dir('register-warped-dir');
    writeImageFile(join(d, 'f.nii'), fixedImage);
    mkdirSync(join(d, 'r', 'warped.nii.gz'), { recursive: true });
    add({
      name: 'register-warped-dir',
      issue: 'register with a directory named warped.nii.gz in --out (left transform.tfm)',
      args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'r'), '--transform', 'translation', '--iterations', '2', '--quiet'],
      code: 1,
      message: /is a directory/,
      absent: [join(d, 'r', 'transform.tfm'), join(d, 'r', 'result.json')],
    });
  }
  {
    const d = dir('difference-out-before-dir');
    writeImageFile(join(d, 'f.nii'), fixedImage);
    mkdirSync(join(d, 'before.nii'));
    add({
      name: 'difference-out-before-dir',
      issue: 'eval difference: a failure between its two outputs left the first',
      args: ['eval', 'difference', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'after.nii'), '--out-before', join(d, 'before.nii')],
      code: 1,
      message: /is a directory/,
      absent: [join(d, 'after.nii')],
    });
  }
  {
    const d = dir('segment-report-dir');
    writeImageFile(join(d, 't.nii'), fixedImage);
    const labels = createImage([10, 8], 'uint8');
    labels.data.fill(1, 0, 40);
    writeImageFile(join(d, 'l.nii'), labels);
    mkdirSync(join(d, 'report.json'));
    add({
      name: 'segment-report-dir',
      issue: 'segment --report: a failure after the segmentation was written left it',
      args: ['segment', '--target', join(d, 't.nii'), '--atlas', `${join(d, 't.nii')},${join(d, 'l.nii')}`, '--out', join(d, 'seg.nii.gz'), '--report', join(d, 'report.json'), '--quiet', '--threads', '1'],
      code: 1,
      message: /is a directory/,
      absent: [join(d, 'seg.nii.gz')],
    });
  }
  {
    const d = dir('register-proc');
    writeImageFile(join(d, 'f.nii'), fixedImage);
    add({
      name: 'register-proc',
      issue: 'register --out /proc/r never exits (output location checked before the work)',
      args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', '/proc/coreg-hostile/r', '--quiet'],
      code: 1,
      message: /\/proc\/coreg-hostile\/r: /,
    });
  }

  // ---- other ----
  {
    const d = dir('field-nan');
    writeImageFile(join(d, 'f.nii'), fixedImage);
    const f = field2d();
    f.data[5] = NaN;
    writeImageFile(join(d, 'nan.nii.gz'), f);
    add({ name: 'field-nan', issue: 'NaN displacements treated as 0', args: ['apply', '--reference', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--transform', join(d, 'nan.nii.gz'), '--out', join(d, 'out.nii')], code: 1, message: /NaN or infinite displacement/, absent: [join(d, 'out.nii')] });
  }
  {
    const d = dir('smooth-absurd');
    writeImageFile(join(d, 'f.nii'), fixedImage);
    add({ name: 'smooth-absurd', issue: '--smooth 1e6 ran for minutes', args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'r'), '--smooth', '1e6', '--iterations', '5'], code: 2, message: /^coreg: error: --smooth: must be at most 64/, absent: [join(d, 'r')] });
    add({ name: 'transform-empty', issue: "--transform '' silently ran the default", args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'r'), '--transform', ''], code: 2, message: /^coreg: error: --transform: unknown transform ""/, absent: [join(d, 'r')] });
    writeFileSync(join(d, 'typo.json'), JSON.stringify({ stages: [{ transform: 'affine', metric: 'mi', gridspacing: 8 }] }));
    add({ name: 'config-typo', issue: 'misspelt --config key accepted silently (issue 11: strict settings)', args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'r'), '--config', join(d, 'typo.json')], code: 2, message: /typo\.json: unknown setting "stages\[0\]\.gridspacing" \(did you mean "gridSpacing"\?\)/, absent: [join(d, 'r')] });
    writeFileSync(join(d, 'type.json'), JSON.stringify({ stages: [{ transform: 'affine', metric: 'mi', bins: 'many' }] }));
    add({ name: 'config-type', issue: 'invalid --config content: exit 2 naming the key', args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'r'), '--config', join(d, 'type.json')], code: 2, message: /"stages\[0\]\.bins" must be an integer/, absent: [join(d, 'r')] });
    writeFileSync(join(d, 'broken.json'), '{"stages": [');
    add({ name: 'config-json', issue: '--config errors exit 1 or 2 inconsistently (bad JSON: 2)', args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'r'), '--config', join(d, 'broken.json')], code: 2, message: /broken\.json: not valid JSON/, absent: [join(d, 'r')] });
    add({ name: 'option-named', issue: 'option errors named "config" instead of the option', args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'r'), '--transform', 'syn', '--metric', 'ncc'], code: 2, message: /^coreg: error: --metric: stage 1: a syn stage takes/, absent: [join(d, 'r')] });
    add({ name: 'config-missing', issue: 'an unreadable config file: exit 1', args: ['register', '--fixed', join(d, 'f.nii'), '--moving', join(d, 'f.nii'), '--out', join(d, 'r'), '--config', join(d, 'nope.json')], code: 1, message: /nope\.json: no such file/, absent: [join(d, 'r')] });
  }
  {
    const d = dir('points-huge');
    writeFileSync(join(d, 'p.csv'), 'x,y\n1e308,0\n-1e308,0\n0,1e308\n');
    writeFileSync(join(d, 'q.csv'), 'x,y\n1,0\n-1,0\n0,1\n');
    add({ name: 'points-huge', issue: '"points all coincide" for points 1e308 apart', args: ['landmarks', '--fixed-points', join(d, 'p.csv'), '--moving-points', join(d, 'q.csv'), '--transform', 'affine', '--out', join(d, 'L')], code: 1, message: /out of range/, absent: [join(d, 'L', 'result.json')] });
  }
  {
    const d = dir('png-ok-check');
    // A control: a correct PNG still reads (the bound is not too tight).
    writeFileSync(join(d, 'a.png'), writePng(image2d()));
  }
  return { root, outside, cases, sentinelText };
}
