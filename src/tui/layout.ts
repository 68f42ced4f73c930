// Layout decisions by terminal size, column fitting (wide columns go first, as in k9s) and plain-text
// cell helpers. Pure.

export const MIN_WIDTH = 80;
export const MIN_HEIGHT = 24;
export const HEADER_HEIGHT = 3;
export const FOOTER_HEIGHT = 1;

export interface Rect {
  top: number;
  height: number;
}

export interface Layout {
  width: number;
  height: number;
  tooSmall: boolean;
  header: Rect;
  sessions: Rect;
  pending: Rect;
  log: Rect;
  footer: Rect;
}

/**
 * Header and footer are fixed; sessions and pending grow with their rows up to a share of the body
 * (a bordered panel needs 2 border rows + 1 column-header row); the log takes the rest.
 */
export function computeLayout(width: number, height: number, rows: { sessions: number; pending: number }): Layout {
  const tooSmall = width < MIN_WIDTH || height < MIN_HEIGHT;
  const body = Math.max(0, height - HEADER_HEIGHT - FOOTER_HEIGHT);
  const pendingHeight = rows.pending === 0 ? 3 : clamp(rows.pending + 3, 4, Math.max(4, Math.floor(body / 4)));
  const sessionsHeight = clamp(rows.sessions + 3, 4, Math.max(4, Math.floor((body * 2) / 5)));
  const logHeight = Math.max(3, body - pendingHeight - sessionsHeight);
  const sessionsTop = HEADER_HEIGHT;
  const pendingTop = sessionsTop + sessionsHeight;
  const logTop = pendingTop + pendingHeight;
  return {
    width,
    height,
    tooSmall,
    header: { top: 0, height: HEADER_HEIGHT },
    sessions: { top: sessionsTop, height: sessionsHeight },
    pending: { top: pendingTop, height: pendingHeight },
    log: { top: logTop, height: logHeight },
    footer: { top: Math.max(0, height - FOOTER_HEIGHT), height: FOOTER_HEIGHT },
  };
}

function clamp(value: number, min: number, max: number): number {
  return Math.max(min, Math.min(max, value));
}

export interface ColumnSpec<K extends string> {
  key: K;
  title: string;
  width: number;
  /** The one column that takes the remaining width (at least `width`). */
  flex?: boolean;
  /** 0 is never dropped; higher numbers are dropped first when the row does not fit. */
  drop: number;
  /** For the flex column: extras (drop ≥ 3) are dropped until it gets at least this many cells. */
  prefer?: number;
  align?: 'left' | 'right';
}

export interface Column<K extends string> {
  key: K;
  title: string;
  width: number;
  align: 'left' | 'right';
}

/** Columns separated by one space, fitted into `width`. */
export function fitColumns<K extends string>(specs: ColumnSpec<K>[], width: number): Column<K>[] {
  let kept = [...specs];
  const total = (cols: ColumnSpec<K>[]) => cols.reduce((sum, c) => sum + c.width, 0) + Math.max(0, cols.length - 1);
  while (total(kept) > width) {
    const droppable = kept.filter((c) => c.drop > 0);
    if (droppable.length === 0) break;
    const worst = droppable.reduce((a, b) => (b.drop > a.drop ? b : a));
    kept = kept.filter((c) => c !== worst);
  }
  const flex = kept.find((c) => c.flex);
  if (flex?.prefer) {
    for (;;) {
      const extras = kept.filter((c) => c.drop >= 3);
      if (extras.length === 0 || flex.width + Math.max(0, width - total(kept)) >= flex.prefer) break;
      const worst = extras.reduce((a, b) => (b.drop > a.drop ? b : a));
      kept = kept.filter((c) => c !== worst);
    }
  }
  const spare = Math.max(0, width - total(kept));
  return kept.map((c) => ({ key: c.key, title: c.title, width: c.flex ? c.width + spare : c.width, align: c.align ?? 'left' }));
}

/** Control characters would move the cursor; show them as `?`. */
export function sanitize(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]/g, '?');
}

/** Cut to `width` cells with `…`, then pad. */
export function cell(text: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  const clean = sanitize(text);
  const cut = clean.length > width ? `${clean.slice(0, Math.max(0, width - 1))}…` : clean;
  return align === 'right' ? cut.padStart(width) : cut.padEnd(width);
}

/**
 * Cut to `width` cells keeping both ends (`reports/…/q1.csv`): the start says where (bucket, table), the end says
 * what (key, item). Pads like `cell`.
 */
export function cellMiddle(text: string, width: number): string {
  if (width <= 0) return '';
  const clean = sanitize(text);
  if (clean.length <= width) return clean.padEnd(width);
  if (width < 4) return `${clean.slice(0, Math.max(0, width - 1))}…`;
  const head = Math.floor((width - 1) * 0.4);
  const tail = width - 1 - head;
  return `${clean.slice(0, head)}…${clean.slice(clean.length - tail)}`;
}

/** An ARN without its `arn:aws:` (or `arn:aws-cn:`…) prefix: in a table every row would repeat it. */
export function shortArn(resource: string): string {
  return resource.replace(/^arn:aws(?:-[a-z-]+)?:/, '');
}

/** Cut to `width` without padding. */
export function truncate(text: string, width: number): string {
  if (width <= 0) return '';
  const clean = sanitize(text);
  return clean.length > width ? `${clean.slice(0, Math.max(0, width - 1))}…` : clean;
}

/** First row index to show so that `selected` stays visible, moving the window as little as possible. */
export function scrollTop(previousTop: number, selected: number, visible: number, total: number): number {
  if (visible <= 0 || total <= visible) return 0;
  let top = Math.min(Math.max(0, previousTop), total - visible);
  if (selected < top) top = selected;
  if (selected >= top + visible) top = selected - visible + 1;
  return Math.max(0, top);
}

/** Centred modal geometry: at most `maxWidth` columns, never wider than the screen minus a margin. */
export function modalBox(screenWidth: number, screenHeight: number, wanted: { width: number; height: number }, maxWidth = 80): { left: number; top: number; width: number; height: number } {
  const width = Math.max(20, Math.min(wanted.width, maxWidth, screenWidth - 4));
  const height = Math.max(5, Math.min(wanted.height, screenHeight - 2));
  return { left: Math.max(0, Math.floor((screenWidth - width) / 2)), top: Math.max(0, Math.floor((screenHeight - height) / 2)), width, height };
}
