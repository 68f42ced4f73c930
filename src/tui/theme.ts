// Themes are JSON files in themes/ (numeric 0–255 colours: blessed maps hex colours to the 8 basic
// ones). Each role maps to a style; the mono theme uses only bold, underline and inverse.

import { readFileSync, readdirSync } from 'node:fs';
import { basename, isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const THEME_ROLES = [
  'text', 'dim', 'header', 'title', 'border', 'borderFocus', 'selected', 'footerKey',
  'allow', 'deny', 'hold', 'approved', 'info', 'error',
  'bannerOk', 'bannerError', 'bannerInfo', 'modal', 'modalBorder', 'button', 'buttonFocus',
] as const;
export type ThemeRole = (typeof THEME_ROLES)[number];

export type Colour = number | 'default';
export interface Style {
  fg?: Colour;
  bg?: Colour;
  bold?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

export interface Theme {
  name: string;
  styles: Record<ThemeRole, Style>;
}

export const THEMES_DIR = fileURLToPath(new URL('../../themes/', import.meta.url));

export class ThemeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ThemeError';
  }
}

function parseColour(value: unknown, where: string): Colour | undefined {
  if (value === undefined) return undefined;
  if (value === 'default') return 'default';
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255) return value;
  throw new ThemeError(`${where}: ${JSON.stringify(value)} is not a colour (use a number 0–255 or "default")`);
}

/** Validates a parsed theme document; `source` names the file in errors. */
export function parseTheme(doc: unknown, source: string): Theme {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new ThemeError(`${source}: a theme is a JSON object`);
  const { name, styles } = doc as { name?: unknown; styles?: unknown };
  if (typeof name !== 'string' || !name) throw new ThemeError(`${source}: "name" must be a non-empty string`);
  if (!styles || typeof styles !== 'object' || Array.isArray(styles)) throw new ThemeError(`${source}: "styles" must be an object of role → style`);
  const out = Object.fromEntries(THEME_ROLES.map((role) => [role, {} as Style])) as Record<ThemeRole, Style>;
  for (const [role, value] of Object.entries(styles)) {
    const where = `${source}: styles.${role}`;
    if (!(THEME_ROLES as readonly string[]).includes(role)) throw new ThemeError(`${where}: unknown role (known: ${THEME_ROLES.join(', ')})`);
    if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ThemeError(`${where}: must be an object like {"fg": 250, "bold": true}`);
    const style: Style = {};
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      if (key === 'fg' || key === 'bg') style[key] = parseColour(v, `${where}.${key}`);
      else if (key === 'bold' || key === 'underline' || key === 'inverse') {
        if (typeof v !== 'boolean') throw new ThemeError(`${where}.${key}: must be true or false`);
        style[key] = v;
      } else throw new ThemeError(`${where}.${key}: unknown attribute (fg, bg, bold, underline, inverse)`);
    }
    out[role as ThemeRole] = style;
  }
  return { name, styles: out };
}

export function availableThemes(dir = THEMES_DIR): string[] {
  try {
    return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => basename(f, '.json')).sort();
  } catch {
    return [];
  }
}

/** A bare name (`dark`) is looked up in themes/; anything with a slash or `.json` is a file path. */
export function loadTheme(nameOrPath: string, dir = THEMES_DIR): Theme {
  const isPath = nameOrPath.includes('/') || nameOrPath.endsWith('.json');
  if (!isPath && !/^[a-z0-9][a-z0-9-]*$/i.test(nameOrPath)) throw new ThemeError(`theme "${nameOrPath}": not a theme name`);
  const file = isPath ? (isAbsolute(nameOrPath) ? nameOrPath : resolve(nameOrPath)) : resolve(dir, `${nameOrPath}.json`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    const known = availableThemes(dir);
    throw new ThemeError(`theme "${nameOrPath}" not found${isPath ? '' : ` (available: ${known.join(', ') || 'none'})`}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw new ThemeError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  return parseTheme(doc, file);
}

/**
 * Which theme to use: an explicit --theme wins (a per-run choice, as the NO_COLOR convention allows),
 * then NO_COLOR (non-empty) selects mono, then PORTCULLIS_THEME, then dark.
 */
export function chooseThemeName(option: string | undefined, env: Record<string, string | undefined>): string {
  if (option) return option;
  if (env.NO_COLOR) return 'mono';
  if (env.PORTCULLIS_THEME) return env.PORTCULLIS_THEME;
  return 'dark';
}

/** The SGR sequence that switches to a style (reset first, so styles never leak into each other). */
export function sgr(style: Style): string {
  const codes: string[] = ['0'];
  if (style.bold) codes.push('1');
  if (style.underline) codes.push('4');
  if (style.inverse) codes.push('7');
  if (style.fg !== undefined) codes.push(style.fg === 'default' ? '39' : `38;5;${style.fg}`);
  if (style.bg !== undefined) codes.push(style.bg === 'default' ? '49' : `48;5;${style.bg}`);
  return `\x1b[${codes.join(';')}m`;
}

export const SGR_RESET = '\x1b[0m';

/** blessed's element style object for a role. */
export function blessedStyle(style: Style): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (style.fg !== undefined) out.fg = style.fg;
  if (style.bg !== undefined) out.bg = style.bg;
  if (style.bold) out.bold = true;
  if (style.underline) out.underline = true;
  if (style.inverse) out.inverse = true;
  return out;
}
