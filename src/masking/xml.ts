// XML masking by editing text nodes, CDATA sections, attribute values and comments in place.
// A full parse + re-serialise (fast-xml-parser's builder) would rewrite the whole document —
// quoting, entity forms, namespace declarations, whitespace — when only a few values change; a
// scanner that knows tags, CDATA, comments, PIs and entities keeps every other byte identical and
// is faster. Malformed XML is reported as such and the caller falls back to text masking.

import type { CompiledRules } from './rules.js';
import { MASK } from './detectors.js';
import { ReportBuilder } from './report.js';

class NotXml extends Error {}

const CLOSE_TAG = /<\/([^\s>]+)\s*>/y;
const OPEN_NAME = /<([^\s/>!?]+)/y;
const ATTRIBUTE = /\s+([^\s=/>]+)\s*=\s*(?:"([^"<]*)"|'([^'<]*)')/dy;
const TAG_END = /\s*(\/?)>/y;
const ENTITY = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|(amp|lt|gt|quot|apos));/g;
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

interface Frame {
  name: string;
  rule: string | null;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

/**
 * Decodes the predefined and numeric entities; undefined when the text uses an entity we cannot
 * decode (DTD-defined), in which case the raw text is masked as is.
 */
function decodeEntities(raw: string): string | undefined {
  if (!raw.includes('&')) return raw;
  let decodedCount = 0;
  const value = raw.replace(ENTITY, (_m, hex: string | undefined, dec: string | undefined, named: string | undefined) => {
    decodedCount++;
    if (named !== undefined) return NAMED[named];
    const code = hex !== undefined ? parseInt(hex, 16) : parseInt(dec!, 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
  });
  let ampersands = 0;
  for (let i = raw.indexOf('&'); i !== -1; i = raw.indexOf('&', i + 1)) ampersands++;
  return ampersands === decodedCount ? value : undefined;
}

function escapeText(value: string): string {
  return value.replace(/[&<>\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;'));
}

function escapeAttribute(value: string, quote: string): string {
  return value.replace(/[&<>"'\n\r\t]/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '\n':
        return '&#10;';
      case '\r':
        return '&#13;';
      case '\t':
        return '&#9;';
      default:
        return c === quote ? (c === '"' ? '&quot;' : '&apos;') : c;
    }
  });
}

function localName(qualified: string): string {
  const colon = qualified.indexOf(':');
  return colon === -1 ? qualified : qualified.slice(colon + 1);
}

function isBlank(text: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 10 && c !== 13 && c !== 9) return false;
  }
  return true;
}

class XmlScanner {
  readonly edits: Edit[] = [];
  readonly stack: Frame[] = [];
  readonly path: string[] = [];
  elements = 0;

  constructor(
    readonly text: string,
    readonly rules: CompiledRules,
    readonly report: ReportBuilder,
  ) {}

  run(): void {
    const t = this.text;
    let pos = 0;
    while (pos < t.length) {
      const lt = t.indexOf('<', pos);
      const textEnd = lt === -1 ? t.length : lt;
      if (textEnd > pos) this.textNode(pos, textEnd);
      if (lt === -1) break;
      if (t.startsWith('<!--', lt)) {
        const end = t.indexOf('-->', lt + 4);
        if (end === -1) throw new NotXml();
        this.comment(lt + 4, end);
        pos = end + 3;
      } else if (t.startsWith('<![CDATA[', lt)) {
        const end = t.indexOf(']]>', lt + 9);
        if (end === -1) throw new NotXml();
        this.cdata(lt + 9, end);
        pos = end + 3;
      } else if (t.startsWith('<?', lt)) {
        const end = t.indexOf('?>', lt + 2);
        if (end === -1) throw new NotXml();
        pos = end + 2;
      } else if (t.startsWith('<!', lt)) {
        pos = this.doctype(lt);
      } else if (t.startsWith('</', lt)) {
        CLOSE_TAG.lastIndex = lt;
        const m = CLOSE_TAG.exec(t);
        const top = this.stack.pop();
        if (m === null || top === undefined || top.name !== m[1]) throw new NotXml();
        this.path.pop();
        pos = CLOSE_TAG.lastIndex;
      } else {
        pos = this.startTag(lt);
      }
    }
    if (this.stack.length !== 0 || this.elements === 0) throw new NotXml();
  }

  startTag(lt: number): number {
    const t = this.text;
    OPEN_NAME.lastIndex = lt;
    const name = OPEN_NAME.exec(t);
    if (name === null) throw new NotXml();
    const parentRule = this.stack.length > 0 ? this.stack[this.stack.length - 1].rule : null;
    this.path.push(localName(name[1]));
    this.stack.push({ name: name[1], rule: parentRule ?? this.rules.matchField(this.path) });
    this.elements++;
    let pos = OPEN_NAME.lastIndex;
    for (;;) {
      ATTRIBUTE.lastIndex = pos;
      const attr = ATTRIBUTE.exec(t);
      if (attr === null) break;
      const group = attr[2] !== undefined ? 2 : 3;
      const [start, end] = attr.indices![group];
      this.attribute(localName(attr[1]), start, end, group === 2 ? '"' : "'");
      pos = ATTRIBUTE.lastIndex;
    }
    TAG_END.lastIndex = pos;
    const close = TAG_END.exec(t);
    if (close === null) throw new NotXml();
    if (close[1] === '/') {
      this.stack.pop();
      this.path.pop();
    }
    return TAG_END.lastIndex;
  }

  doctype(lt: number): number {
    let depth = 0;
    for (let i = lt + 2; i < this.text.length; i++) {
      const c = this.text[i];
      if (c === '[') depth++;
      else if (c === ']') depth--;
      else if (c === '>' && depth <= 0) return i + 1;
    }
    throw new NotXml();
  }

  currentRule(): string | null {
    return this.stack.length > 0 ? this.stack[this.stack.length - 1].rule : null;
  }

  textNode(start: number, end: number): void {
    if (isBlank(this.text, start, end)) return;
    const raw = this.text.slice(start, end);
    const decoded = decodeEntities(raw);
    const value = decoded ?? raw;
    const masked = this.rules.maskString(value, this.path, this.currentRule(), this.report, 0);
    if (masked === null || masked === value) return;
    // Undecodable entities: we masked the raw text, whose untouched parts are already escaped.
    this.edits.push({ start, end, text: decoded === undefined ? masked : escapeText(masked) });
  }

  cdata(start: number, end: number): void {
    if (isBlank(this.text, start, end)) return;
    const value = this.text.slice(start, end);
    const masked = this.rules.maskString(value, this.path, this.currentRule(), this.report, 0);
    if (masked === null || masked === value) return;
    this.edits.push({ start, end, text: masked.split(']]>').join(']]]]><![CDATA[>') });
  }

  attribute(name: string, start: number, end: number, quote: string): void {
    if (start === end) return;
    const raw = this.text.slice(start, end);
    const decoded = decodeEntities(raw);
    const value = decoded ?? raw;
    // An attribute is matched by its own name (`password` or `User.password`), not by its element's rule.
    this.path.push(name);
    const rule = this.rules.hasRuleEndingIn(name) ? this.rules.matchField(this.path) : null;
    const masked = this.rules.maskString(value, this.path, rule, this.report, 0);
    this.path.pop();
    if (masked === null || masked === value) return;
    this.edits.push({ start, end, text: decoded === undefined ? masked : escapeAttribute(masked, quote) });
  }

  comment(start: number, end: number): void {
    const value = this.text.slice(start, end);
    const masked = this.rules.detect(value, {}, this.report);
    if (masked === null) return;
    // `--` is not allowed inside a comment (the PEM marker has dashes): fall back to a bare marker.
    const safe = masked.includes('--') || masked.endsWith('-') ? ` ${MASK} ` : masked;
    this.edits.push({ start, end, text: safe });
  }
}

/**
 * Masks an XML document given as text. Returns the new text, null when nothing changed, or
 * undefined when the text is not well-formed enough to scan (the caller falls back to text masking).
 */
export function maskXmlText(text: string, rules: CompiledRules, report: ReportBuilder): string | null | undefined {
  const scratch = new ReportBuilder();
  const scanner = new XmlScanner(text, rules, scratch);
  try {
    scanner.run();
  } catch (error) {
    if (error instanceof NotXml) return undefined;
    throw error;
  }
  report.merge(scratch);
  if (scanner.edits.length === 0) return null;
  let out = '';
  let at = 0;
  for (const edit of scanner.edits) {
    out += text.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  return out + text.slice(at);
}
