// The timeline in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run)
// opens the file the bundle wrote, from file://, with no network. It must render without a
// console error or page error, show its markers and legend, run its legend script under its own
// Content-Security-Policy, keep hostile input inert, and paint a screenshot that is not blank
// (decoded here with node:zlib: many colours, much of it not background).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openJournal, type JournalSampleRecord } from '../../adapters/journal.ts';
import { writeTimelineFile } from '../../cli/commands/timeline.ts';
import { renderTimeline } from '../../visualizations/timeline.ts';
import { runBundle } from '../support/cli.ts';
import { journalSample } from './journal-records.ts';

const CHROMIUM = '/usr/bin/chromium';
const T0 = Date.UTC(2026, 10, 27, 12, 0, 0);

let browser: Browser | undefined;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'memgov-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container: Chromium's sandbox needs user namespaces it does not get here.
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-extensions'],
  });
});

afterAll(async () => {
  try {
    await browser?.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

interface Opened {
  readonly page: Page;
  readonly errors: string[];
  readonly requests: string[];
}

/** Opens a file with listeners for every console error, page error, dialog and request. */
async function open(path: string): Promise<Opened> {
  if (browser === undefined) throw new Error('Chromium did not start');
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page: ${String(error)}`));
  page.on('dialog', (dialog) => {
    errors.push(`dialog: ${dialog.message()}`);
    void dialog.dismiss();
  });
  page.on('request', (request) => requests.push(request.url()));
  await page.goto(pathToFileURL(path).href, { waitUntil: 'load' });
  return { page, errors, requests };
}

function sample(t: number, ratio: number, action: JournalSampleRecord['action']) {
  return journalSample(t, ratio, { action, nextPollMs: ratio > 0.8 ? 250 : 15_000 });
}

let ladderPath: string | undefined;

/** A journal of an hour climbing through the whole ladder, drawn by the bundle (once). */
function ladderTimeline(): string {
  if (ladderPath !== undefined) return ladderPath;
  const journalPath = join(dir, 'journal.jsonl');
  const journal = openJournal({ path: journalPath, maxBytes: 1 << 24, keep: 1 })._unsafeUnwrap();
  const actionAt = new Map<number, NonNullable<JournalSampleRecord['action']>>([
    [2000, 'compact'],
    [3000, 'clear'],
    [3400, 'archive-terminate'],
  ]);
  for (let i = 0; i < 3600; i++) {
    const ratio = 0.4 + 0.55 * (i / 3600) + 0.04 * Math.sin(i / 60);
    journal.append(sample(T0 + i * 1000, ratio, actionAt.get(i) ?? null))._unsafeUnwrap();
  }
  for (const [i, action] of actionAt) {
    const outcome = action === 'clear' ? 'failed' : 'ok';
    journal.append({
      kind: 'result',
      t: T0 + i * 1000 + 900,
      seq: i,
      action,
      outcome,
      durationMs: 900,
      detail: null,
    });
  }
  journal.close();
  const out = join(dir, 'ladder.html');
  const run = runBundle(['timeline', journalPath, '--html', out]);
  if (run.code !== 0) throw new Error(`memgov timeline failed: ${run.stderr}`);
  ladderPath = out;
  return out;
}

/** Decodes an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) to RGBA pixels. */
function decodePng(png: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const bytes = Buffer.from(png);
  expect(bytes.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
  let offset = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Buffer[] = [];
  while (offset < bytes.length) {
    const length = bytes.readUInt32BE(offset);
    const type = bytes.toString('latin1', offset + 4, offset + 8);
    const data = bytes.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      const [bitDepth, colourType, , , interlace] = data.subarray(8, 13);
      expect([bitDepth, interlace]).toEqual([8, 0]);
      channels = colourType === 6 ? 4 : colourType === 2 ? 3 : 0;
      expect(channels).toBeGreaterThan(0);
    } else if (type === 'IDAT') idat.push(data);
    offset += 12 + length;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const left = i >= channels ? (pixels[y * stride + i - channels] as number) : 0;
      const up = y > 0 ? (pixels[(y - 1) * stride + i] as number) : 0;
      const upLeft =
        y > 0 && i >= channels ? (pixels[(y - 1) * stride + i - channels] as number) : 0;
      let predictor = 0;
      if (filter === 1) predictor = left;
      else if (filter === 2) predictor = up;
      else if (filter === 3) predictor = (left + up) >> 1;
      else if (filter === 4) {
        const p = left + up - upLeft;
        const [pa, pb, pc] = [Math.abs(p - left), Math.abs(p - up), Math.abs(p - upLeft)];
        predictor = pa <= pb && pa <= pc ? left : pb <= pc ? up : upLeft;
      }
      pixels[y * stride + i] = ((line[i] as number) + predictor) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) rgba[p * 4 + c] = pixels[p * channels + c] as number;
    rgba[p * 4 + 3] = channels === 4 ? (pixels[p * channels + 3] as number) : 255;
  }
  return { width, height, rgba };
}

/** Distinct colours, and the share of pixels unlike the top-left (background) pixel. */
function paint(png: Uint8Array): { colours: number; inkShare: number } {
  const { width, height, rgba } = decodePng(png);
  const colours = new Set<number>();
  const background = Buffer.from(rgba.subarray(0, 4)).readUInt32BE(0);
  let ink = 0;
  for (let p = 0; p < width * height; p++) {
    const colour = Buffer.from(rgba.subarray(p * 4, p * 4 + 4)).readUInt32BE(0);
    colours.add(colour);
    if (colour !== background) ink++;
  }
  return { colours: colours.size, inkShare: ink / (width * height) };
}

// Run in the page. Strings, not functions: the project's TypeScript has no DOM library.
const LADDER_FACTS = `(() => {
  const box = (element) => element?.getBoundingClientRect() ?? null;
  const markers = [...document.querySelectorAll('[data-action]')];
  return {
    actions: markers.map((marker) => marker.getAttribute('data-action')),
    markerWidths: markers.map((marker) => box(marker)?.width ?? 0),
    tooltips: markers.map((marker) => marker.querySelector('title')?.textContent ?? ''),
    outcomes: [...document.querySelectorAll('[data-outcome]')].map((r) => r.getAttribute('data-outcome')),
    legend: document.querySelector('.legend')?.textContent ?? '',
    legendHeight: box(document.querySelector('.legend'))?.height ?? 0,
    svgWidth: box(document.querySelector('svg.timeline'))?.width ?? 0,
    ratioLength: document.querySelector('path.ratio')?.getTotalLength() ?? 0,
  };
})()`;

interface LadderFacts {
  readonly actions: string[];
  readonly markerWidths: number[];
  readonly tooltips: string[];
  readonly outcomes: string[];
  readonly legend: string;
  readonly legendHeight: number;
  readonly svgWidth: number;
  readonly ratioLength: number;
}

const HOSTILE_FACTS = `({
  images: document.querySelectorAll('img').length,
  scripts: document.querySelectorAll('script').length,
  heading: document.querySelector('h1')?.textContent ?? '',
  tooltip: document.querySelector('[data-action] title')?.textContent ?? '',
})`;

interface HostileFacts {
  readonly images: number;
  readonly scripts: number;
  readonly heading: string;
  readonly tooltip: string;
}

describe('the timeline in headless Chromium', () => {
  it('renders with no errors or requests, with its markers, legend and working legend script', async () => {
    const { page, errors, requests } = await open(ladderTimeline());
    const facts = (await page.evaluate(LADDER_FACTS)) as LadderFacts;
    expect(errors).toEqual([]);
    // The file itself, and nothing else.
    expect(requests).toHaveLength(1);
    expect(facts.actions).toEqual(['compact', 'clear', 'archive-terminate']);
    expect(facts.markerWidths.every((width) => width > 5)).toBe(true);
    expect(facts.tooltips[0]).toMatch(/^compact at 2026-11-27T12:33:20\.000Z \(\+33m20s\), ratio /);
    expect(facts.outcomes).toEqual(['ok', 'failed', 'ok']);
    expect(facts.legend).toContain('memory ratio');
    expect(facts.legend).toContain('archive and terminate (tier 3)');
    expect(facts.legendHeight).toBeGreaterThan(10);
    expect(facts.svgWidth).toBeGreaterThan(1000);
    expect(facts.ratioLength).toBeGreaterThan(900);

    // The inline script runs under the page's CSP: a legend key hides its markers.
    await page.click('.legend [data-toggle=\'[data-action="compact"]\']');
    const hidden = await page.evaluate(
      `getComputedStyle(document.querySelector('[data-action="compact"]')).display`,
    );
    expect(hidden).toBe('none');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('paints a screenshot that is not blank', async () => {
    const { page } = await open(ladderTimeline());
    const ours = paint(await page.screenshot({ type: 'png' }));
    await page.goto('about:blank');
    const blank = paint(await page.screenshot({ type: 'png' }));
    await page.close();
    expect(blank.colours).toBe(1);
    expect(blank.inkShare).toBe(0);
    // Bands, lines, markers and anti-aliased text: hundreds of colours over much of the page.
    expect(ours.colours).toBeGreaterThan(100);
    expect(ours.inkShare).toBeGreaterThan(0.2);
  });

  it('keeps hostile input inert: no element, no script, no dialog from it', async () => {
    const hostile = `</script><img src=x onerror=alert(1)><script>alert(2)</script>`;
    const path = join(dir, 'hostile.html');
    const html = renderTimeline(
      [
        { t: T0, ratio: 0.5, nextPollMs: 1000, state: hostile, action: null, reason: hostile },
        {
          t: T0 + 1000,
          ratio: 0.75,
          nextPollMs: 0,
          state: hostile,
          action: 'compact',
          reason: hostile,
        },
      ],
      [{ t: T0 + 1500, seq: 1, action: hostile, outcome: hostile, durationMs: 5, detail: hostile }],
      {
        title: hostile,
        source: hostile,
        thresholds: { compactAt: 0.7, clearAt: 0.85, terminateAt: 0.9 },
        notes: [hostile],
      },
    );
    expect(writeTimelineFile(path, html)).toBeNull();
    const { page, errors, requests } = await open(path);
    const found = (await page.evaluate(HOSTILE_FACTS)) as HostileFacts;
    await page.close();
    expect(errors).toEqual([]);
    expect(requests).toHaveLength(1);
    expect(found.images).toBe(0);
    expect(found.scripts).toBe(1);
    expect(found.heading).toBe(hostile);
    expect(found.tooltip).toContain('</script><img src=x');
  });
});
