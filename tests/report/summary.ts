// Writes reports/summary.md from the JUnit files the end-to-end runs leave in
// reports/junit/, with each failure's message, the measurements and links to the
// screenshots the specs leave in reports/artifacts/, and prints it, so that a CI log
// shows what passed, what failed, what was measured and what the window looked like.
//
// Usage: tsx tests/report/summary.ts [reports folder]
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One test case as the JUnit file records it. */
export interface CaseResult {
  readonly suite: string;
  readonly name: string;
  readonly seconds: number;
  readonly outcome: 'passed' | 'failed' | 'skipped';
  /** The failure's message, for a failed case. */
  readonly message: string | null;
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decode(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (whole, entity: string) => {
    if (entity.startsWith('#x') || entity.startsWith('#X')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(parseInt(entity.slice(1), 10));
    return ENTITIES[entity.toLowerCase()] ?? whole;
  });
}

function attribute(tag: string, name: string): string | null {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match ? decode(match[1]) : null;
}

/** Reads the test cases of one JUnit XML document. */
export function parseJunit(xml: string): CaseResult[] {
  const cases: CaseResult[] = [];
  const suites = xml.matchAll(/<testsuite\b([^>]*)>([\s\S]*?)<\/testsuite>/g);
  for (const [, suiteAttributes, suiteBody] of suites) {
    const suite = attribute(suiteAttributes, 'name') ?? 'unnamed suite';
    for (const [, caseAttributes, selfClosing, body = ''] of suiteBody.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
      const failure = /<(failure|error)\b([^>]*)(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
      const skipped = /<skipped\b/.test(body);
      const outcome = failure ? 'failed' : skipped ? 'skipped' : 'passed';
      const message = failure ? (attribute(failure[2], 'message') ?? decode(failure[3] ?? '').trim()) : null;
      cases.push({
        suite,
        name: attribute(caseAttributes, 'name') ?? 'unnamed test',
        seconds: Number(attribute(caseAttributes, 'time') ?? 0),
        outcome: selfClosing === '/>' ? 'passed' : outcome,
        message,
      });
    }
  }
  return cases;
}

/** What the specs left beside their results: measurements by file name, and screenshots. */
export interface Artifacts {
  readonly measurements: ReadonlyMap<string, string>;
  readonly screenshots: readonly string[];
}

/** The readable summary of the runs whose JUnit files are given, by file name. */
export function renderSummary(runs: ReadonlyMap<string, CaseResult[]>, artifacts: Artifacts): string {
  const all = [...runs.values()].flat();
  const failed = all.filter((c) => c.outcome === 'failed');
  const skipped = all.filter((c) => c.outcome === 'skipped');
  const lines = [
    '# End-to-end report',
    '',
    `${all.length} tests: ${all.length - failed.length - skipped.length} passed, ${failed.length} failed, ${skipped.length} skipped.`,
    '',
    '| Run | Spec | Passed | Failed | Seconds |',
    '|---|---|---|---|---|',
  ];
  for (const [run, cases] of runs) {
    const bySuite = new Map<string, CaseResult[]>();
    for (const c of cases) bySuite.set(c.suite, [...(bySuite.get(c.suite) ?? []), c]);
    for (const [suite, suiteCases] of bySuite) {
      const passed = suiteCases.filter((c) => c.outcome === 'passed').length;
      const failures = suiteCases.filter((c) => c.outcome === 'failed').length;
      const seconds = suiteCases.reduce((sum, c) => sum + c.seconds, 0);
      lines.push(`| ${run} | ${suite} | ${passed} | ${failures} | ${seconds.toFixed(1)} |`);
    }
  }
  if (failed.length > 0) {
    lines.push('', '## Failures', '');
    for (const c of failed) {
      lines.push(`- **${c.suite}: ${c.name}**`);
      if (c.message) lines.push(`  ${c.message.split('\n')[0].slice(0, 800)}`);
    }
  }
  for (const [name, text] of artifacts.measurements) lines.push('', `## ${name}`, '', '```', text.trimEnd(), '```');
  lines.push('', '## Screenshots', '');
  if (artifacts.screenshots.length === 0) lines.push('None were taken.');
  for (const name of artifacts.screenshots) lines.push(`- [${name.replace(/\.png$/, '')}](artifacts/${encodeURIComponent(name)})`);
  return `${lines.join('\n')}\n`;
}

function main(): void {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const reports = path.resolve(process.argv[2] ?? path.join(here, '..', '..', 'reports'));
  const junit = path.join(reports, 'junit');
  const runs = new Map<string, CaseResult[]>();
  const files = existsSync(junit) ? readdirSync(junit).filter((f) => f.endsWith('.xml')).sort() : [];
  for (const file of files) runs.set(file.replace(/\.xml$/, ''), parseJunit(readFileSync(path.join(junit, file), 'utf8')));
  const folder = path.join(reports, 'artifacts');
  const names = existsSync(folder) ? readdirSync(folder).sort() : [];
  const measurements = new Map(names.filter((f) => f.endsWith('.txt')).map((f) => [f, readFileSync(path.join(folder, f), 'utf8')]));
  const summary = renderSummary(runs, { measurements, screenshots: names.filter((f) => f.endsWith('.png')) });
  mkdirSync(reports, { recursive: true });
  writeFileSync(path.join(reports, 'summary.md'), summary);
  process.stdout.write(`${summary}\nJUnit files in ${junit}; this summary in ${path.join(reports, 'summary.md')}.\n`);
}

// Run as a script; importing the module only gives its functions.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
