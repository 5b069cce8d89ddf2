#!/bin/sh
# What the test suite needs besides node: tmux (the agent-CLI tests drive real panes), Debian's
# chromium at /usr/bin/chromium (the HTML timeline test renders in it), and the pinned real agent
# CLIs from npm in a cache outside the package (scripts/install-agent-clis.sh: claude and gemini,
# about 12 s the first time). `npm test` runs this first: present -> nothing to do; missing, as
# root with apt-get -> installed (about a minute); otherwise one line saying what to install, and
# the tests do not start.
set -eu
bash "$(dirname "$0")/install-agent-clis.sh" >/dev/null
missing=""
command -v tmux >/dev/null 2>&1 || missing="$missing tmux"
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "memgov tests: installing$missing with apt-get" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  exit 0
fi
echo "memgov tests need$missing: install with 'sudo apt-get install$missing' (Debian/Ubuntu), then run npm test again" >&2
exit 1
