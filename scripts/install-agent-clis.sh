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

# Installs NAME from the npm spec PACKAGE@VERSION into $CACHE_DIR/NAME unless RUNNABLE is there
# and VERSION_FILE (a package.json) already records VERSION_TEXT; prints "NAME: RUNNABLE".
install_pinned() {
  local name=$1 spec=$2 version_file=$3 version_text=$4 runnable=$5
  if [ -x "$runnable" ] && grep -q "\"version\": \"$version_text\"" "$version_file" 2>/dev/null; then
    echo "$name ${spec##*@} already installed" >&2
  else
    mkdir -p "$CACHE_DIR/$name"
    npm install --prefix "$CACHE_DIR/$name" --no-audit --no-fund --no-save --loglevel=error \
      "$spec" >&2
  fi
  [ -x "$runnable" ] || { echo "no $name to run at $runnable" >&2; exit 1; }
  echo "$name: $runnable"
}

# npm's install-scripts policy blocks the postinstall that would replace bin/claude.exe, so the
# placeholder stays: the native file ships in the optional per-platform package instead.
install_claude() {
  local modules="$CACHE_DIR/claude/node_modules/@anthropic-ai"
  install_pinned claude "@anthropic-ai/claude-code@$CLAUDE_VERSION" \
    "$modules/claude-code/package.json" "$CLAUDE_VERSION" "$modules/claude-code-linux-x64/claude"
}

# The native codex ships in the optional package @openai/codex-linux-x64 (npm alias of
# @openai/codex@<version>-linux-x64); bin/codex.js is only a node launcher for it.
install_codex() {
  local platform="$CACHE_DIR/codex/node_modules/@openai/codex-linux-x64"
  install_pinned codex "@openai/codex@$CODEX_VERSION" "$platform/package.json" \
    "$CODEX_VERSION-linux-x64" "$platform/vendor/x86_64-unknown-linux-musl/bin/codex"
}

# The Gemini CLI is plain JavaScript: bin/gemini (a node script) is what the tests run.
install_gemini() {
  local modules="$CACHE_DIR/gemini/node_modules"
  install_pinned gemini "@google/gemini-cli@$GEMINI_VERSION" \
    "$modules/@google/gemini-cli/package.json" "$GEMINI_VERSION" "$modules/.bin/gemini"
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
