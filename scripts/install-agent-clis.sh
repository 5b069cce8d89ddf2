#!/usr/bin/env bash
# Installs the real agent CLIs the real-agent tests drive, pinned, into a cache directory outside
# the package (they are never dependencies of memgov). Idempotent: a CLI whose pinned version is
# already there is skipped. Prints the path of each native binary.
# Usage: scripts/install-agent-clis.sh [claude codex ...]   (default: every CLI below)
# The cache: ${MEMGOV_AGENT_CLIS:-$HOME/.cache/memgov-agent-clis}/<cli>/
set -euo pipefail

CACHE_DIR="${MEMGOV_AGENT_CLIS:-$HOME/.cache/memgov-agent-clis}"
# 2.1.197 is the version measured in docs and by hand; bump together with the real-agent tests.
CLAUDE_VERSION=2.1.197
# 0.61.0: the Gemini CLI version measured in docs/AGENTS.md; bump with the gemini real-agent tests.
GEMINI_VERSION=0.61.0
# 0.171.0 is the Codex version measured in docs/AGENTS.md; bump together with its tests.
CODEX_VERSION=0.171.0

# npm's install-scripts policy blocks the postinstall that would replace bin/claude.exe, so the
# placeholder stays: the native file ships in the optional per-platform package instead.
install_claude() {
  local dir="$CACHE_DIR/claude"
  local pkg="$dir/node_modules/@anthropic-ai/claude-code/package.json"
  local native="$dir/node_modules/@anthropic-ai/claude-code-linux-x64/claude"
  if [ -x "$native" ] && grep -q "\"version\": \"$CLAUDE_VERSION\"" "$pkg" 2>/dev/null; then
    echo "claude $CLAUDE_VERSION already installed" >&2
  else
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
      "@anthropic-ai/claude-code@$CLAUDE_VERSION" >&2
  fi
  [ -x "$native" ] || { echo "no native claude binary at $native" >&2; exit 1; }
  echo "claude: $native"
}

# The native codex ships in the optional package @openai/codex-linux-x64 (npm alias of
# @openai/codex@<version>-linux-x64); bin/codex.js is only a node launcher for it.
install_codex() {
  local dir="$CACHE_DIR/codex"
  local platform="$dir/node_modules/@openai/codex-linux-x64"
  local native="$platform/vendor/x86_64-unknown-linux-musl/bin/codex"
  if [ -x "$native" ] && grep -q "\"version\": \"$CODEX_VERSION-linux-x64\"" "$platform/package.json" 2>/dev/null; then
    echo "codex $CODEX_VERSION already installed" >&2
  else
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
      "@openai/codex@$CODEX_VERSION" >&2
  fi
  [ -x "$native" ] || { echo "no native codex binary at $native" >&2; exit 1; }
  echo "codex: $native"
}

# The Gemini CLI is plain JavaScript: bin/gemini (a node script) is what the tests run.
install_gemini() {
  local dir="$CACHE_DIR/gemini"
  local pkg="$dir/node_modules/@google/gemini-cli/package.json"
  local bin="$dir/node_modules/.bin/gemini"
  if [ -x "$bin" ] && grep -q "\"version\": \"$GEMINI_VERSION\"" "$pkg" 2>/dev/null; then
    echo "gemini $GEMINI_VERSION already installed" >&2
  else
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --no-save --loglevel=error \
      "@google/gemini-cli@$GEMINI_VERSION" >&2
  fi
  [ -x "$bin" ] || { echo "no gemini at $bin" >&2; exit 1; }
  echo "gemini: $bin"
}

clis=("$@")
[ "${#clis[@]}" -gt 0 ] || clis=(claude codex gemini)
for cli in "${clis[@]}"; do
  case "$cli" in
    claude) install_claude ;;
    codex) install_codex ;;
    gemini) install_gemini ;;
    *) echo "unknown agent CLI: $cli (known: claude, codex, gemini)" >&2; exit 2 ;;
  esac
done
