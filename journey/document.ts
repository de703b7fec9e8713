/**
 * The command blocks of a Markdown document (docs/deploy.md), in document order, with the
 * journey marker before each: an HTML comment on the lines just before the fence,
 *
 *   <!-- journey: run shape=eks|vpn|both -->            run in the shell session as written
 *   <!-- journey: local-equivalent NAME [shape=…] -->   nothing here can run it (the AWS CLI,
 *                                                        cdk deploy): the harness runs NAME
 *                                                        from its table (equivalents.ts)
 *
 *   <!-- journey: output -->                           what a command prints (never run)
 *   <!-- journey: app shape=… -->                      CDK app code; the example app in the
 *                                                      checkout is what `cdk deploy` synthesizes
 *
 * Command blocks are fenced `sh`, `bash`, `shell` or `console`; other fences (ts, json, yaml)
 * are examples, not steps. A command block without a marker, or with one the harness does not
 * understand, is an error: nothing is skipped silently.
 */

export const SHAPES = ['eks', 'vpn'] as const;
export type Shape = (typeof SHAPES)[number];

export type Marker =
  | { kind: 'run'; shapes: Shape[] }
  | { kind: 'output' | 'app'; shapes: Shape[] }
  | { kind: 'local-equivalent'; name: string; shapes: Shape[] };

export interface CommandBlock {
  /** 1-based line of the opening fence. */
  line: number;
  /** The nearest heading above the block. */
  section: string;
  lang: string;
  text: string;
  marker?: Marker;
  /** Why the marker could not be read (the block then has none). */
  markerError?: string;
}

const COMMAND_LANGS = new Set(['sh', 'bash', 'shell', 'console']);
const MARKER = /^<!--\s*journey:\s*(.*?)\s*-->$/;

function parseShapes(value: string | undefined, where: string): Shape[] {
  if (value === undefined || value === 'both') return [...SHAPES];
  const list = value.split(/[|,]/).map((s) => s.trim());
  for (const s of list)
    if (!(SHAPES as readonly string[]).includes(s))
      throw new Error(`${where}: unknown shape "${s}" (use eks, vpn or both)`);
  return list as Shape[];
}

/** `run shape=eks` / `local-equivalent cdk-deploy shape=vpn` / `output` / `app shape=both`. */
export function parseMarker(body: string, where: string): Marker {
  const words = body.split(/\s+/).filter(Boolean);
  const attrs: Record<string, string> = {};
  const bare: string[] = [];
  for (const w of words.slice(1)) {
    const m = /^([a-z]+)=(.*)$/.exec(w);
    if (m) attrs[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
    else bare.push(w);
  }
  const known = (allowed: string[]) => {
    for (const k of Object.keys(attrs))
      if (!allowed.includes(k)) throw new Error(`${where}: unknown marker attribute "${k}"`);
  };
  if (words[0] === 'run') {
    known(['shape']);
    if (bare.length > 0) throw new Error(`${where}: "run" takes no name (got "${bare.join(' ')}")`);
    return { kind: 'run', shapes: parseShapes(attrs.shape, where) };
  }
  if (words[0] === 'output' || words[0] === 'app') {
    known(['shape']);
    return { kind: words[0], shapes: parseShapes(attrs.shape, where) };
  }
  if (words[0] === 'local-equivalent') {
    known(['shape']);
    if (bare.length !== 1) throw new Error(`${where}: "local-equivalent" needs exactly one name`);
    return { kind: 'local-equivalent', name: bare[0]!, shapes: parseShapes(attrs.shape, where) };
  }
  throw new Error(`${where}: unknown journey marker "${words[0] ?? ''}" (use run, local-equivalent, output or app)`);
}

/** Every command block of the document, in order, with its marker. */
export function commandBlocks(markdown: string): CommandBlock[] {
  const lines = markdown.split('\n');
  const blocks: CommandBlock[] = [];
  let section = '';
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const heading = /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) section = heading[1]!.trim();
    const fence = /^(\s*)(```+|~~~+)\s*([\w-]*)/.exec(line);
    if (!fence) continue;
    const [, indent, ticks, lang] = fence as unknown as [string, string, string, string];
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length; i++) {
      const l = lines[i]!;
      if (l.trim().startsWith(ticks) && l.trim().replace(/[`~]/g, '') === '') break;
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l.trimStart());
    }
    if (!COMMAND_LANGS.has(lang.toLowerCase())) continue;
    const block: CommandBlock = { line: start + 1, section, lang, text: body.join('\n') };
    // The marker: the nearest non-blank line above the fence.
    let j = start - 1;
    while (j >= 0 && lines[j]!.trim() === '') j--;
    const m = j >= 0 ? MARKER.exec(lines[j]!.trim()) : null;
    if (m) {
      try {
        block.marker = parseMarker(m[1]!, `line ${j + 1}`);
      } catch (err) {
        block.markerError = (err as Error).message;
      }
    }
    blocks.push(block);
  }
  return blocks;
}

/** The first line of a block, for messages. */
export function firstCommand(block: CommandBlock): string {
  return (
    block.text
      .split('\n')
      .find((l) => l.trim() !== '' && !l.trim().startsWith('#'))
      ?.trim() ?? ''
  );
}

/**
 * A block's statements: lines joined while a statement continues (a trailing `\`, `|`, `&&`,
 * `||`, or an open quote, `$(` or `{`). Blank lines and comments are not statements.
 */
export function statements(text: string): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  let depth = 0;
  let inDouble = false;
  let inSingle = false;
  for (const line of text.split('\n')) {
    if (cur.length === 0 && (line.trim() === '' || line.trim().startsWith('#'))) continue;
    cur.push(line);
    for (let i = 0; i < line.length; i++) {
      const c = line[i]!;
      if (inSingle) {
        if (c === "'") inSingle = false;
        continue;
      }
      if (c === '\\') {
        i++;
        continue;
      }
      if (c === '"') inDouble = !inDouble;
      else if (c === "'" && !inDouble) inSingle = true;
      else if (c === '(' || c === '{') depth++;
      else if (c === ')' || c === '}') depth--;
      else if (c === '#' && !inDouble && (i === 0 || /\s/.test(line[i - 1]!))) break;
    }
    const t = line.trimEnd();
    const continues = depth > 0 || inDouble || inSingle || /(\\|\||&&)$/.test(t);
    if (!continues) {
      out.push(cur.join('\n'));
      cur = [];
      depth = 0;
    }
  }
  if (cur.length > 0) out.push(cur.join('\n'));
  return out;
}
