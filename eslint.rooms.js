// The rooms of the code base and what each may import (docs/DESIGN.md, "Rooms"). Every project
// folder not listed for a room is refused, so a new dependency across rooms is a lint error, not a
// review comment. test/lint/rooms.test.ts proves each rule rejects its fixture.

/** Every folder a room could reach with a relative import. */
export const PROJECT_FOLDERS = [
  'machines',
  'actors',
  'agents',
  'transports',
  'adapters',
  'visualizations',
  'lib',
  'cli',
  'test',
  'bench',
  'examples',
];

/** What each room may import; `types` folders only with `import type`. */
export const ROOMS = {
  machines: { may: ['lib'], types: [] },
  actors: { may: ['machines', 'adapters', 'agents', 'transports', 'lib'], types: [] },
  agents: { may: ['adapters', 'lib'], types: [] },
  transports: { may: ['adapters', 'lib'], types: [] },
  adapters: { may: ['lib'], types: [] },
  visualizations: { may: ['lib'], types: ['machines'] },
  lib: { may: [], types: [] },
  cli: {
    may: ['machines', 'actors', 'agents', 'transports', 'adapters', 'visualizations', 'lib'],
    types: [],
  },
};

/** Node's I/O modules: machines/ is pure policy, replayable from data alone. */
const NODE_IO = {
  group: ['node:*', 'fs', 'path', 'os', 'child_process'],
  message: 'machines/ is pure: do I/O in actors/ or adapters/.',
};

/** A relative import that climbs out of the room into `folder`. */
function into(folder) {
  return `^(\\.\\./)+${folder}(/|$)`;
}

function patternsOf(room) {
  const { may, types } = ROOMS[room];
  const refused = PROJECT_FOLDERS.filter((f) => f !== room && !may.includes(f));
  const allowed = may.length === 0 ? 'nothing of the project' : may.map((f) => `${f}/`).join(', ');
  const typeNote =
    types.length === 0 ? '' : ` (and types from ${types.map((f) => `${f}/`).join(', ')})`;
  const patterns = refused.map((folder) => ({
    regex: into(folder),
    message: `${room}/ may import ${allowed}${typeNote}, not ${folder}/ (docs/DESIGN.md, "Rooms").`,
    ...(types.includes(folder) ? { allowTypeImports: true } : {}),
  }));
  return room === 'machines' ? [...patterns, NODE_IO] : patterns;
}

/** One flat-config block per room. */
export const roomConfigs = Object.keys(ROOMS).map((room) => ({
  files: [`${room}/**/*.ts`],
  rules: {
    'no-restricted-imports': 'off',
    '@typescript-eslint/no-restricted-imports': ['error', { patterns: patternsOf(room) }],
  },
}));
