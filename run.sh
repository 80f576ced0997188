#!/usr/bin/env bash
# One entry point for people and CI:
#   bash run.sh app  [streamlit args]   set up (first time) and start the dashboard on the embedded checkpoints
#   bash run.sh test [pytest args]      set up (first time, Chromium and nginx included) and run the whole test suite
# Needs only Python >= 3.10; everything else is installed into .venv (PyPI) and, for the browser and deployment
# tests, Debian's chromium and nginx packages. Re-running skips installs whose requirement files did not change.
set -euo pipefail
cd "$(dirname "$0")"
cmd="${1:-}"; shift || true
PY="${PYTHON:-python3}"
VENV=.venv

need_python() {
  command -v "$PY" >/dev/null || { echo "error: $PY not found; install Python 3.10+" >&2; exit 1; }
  "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || { echo "error: Python 3.10+ required" >&2; exit 1; }
}

make_venv() {
  [ -x "$VENV/bin/python" ] && return
  echo "==> creating $VENV"
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    # Debian/Ubuntu ship venv separately; otherwise fall back to virtualenv from PyPI
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && "$PY" -m venv "$VENV"
    else
      "$PY" -m pip install --user -q virtualenv && "$PY" -m virtualenv -q "$VENV"
    fi
  fi
  "$VENV/bin/python" -m pip install -q --upgrade pip
}

install_reqs() {  # $1 = requirements file; skipped when unchanged since the last install
  local req="$1" stamp="$VENV/.installed-$(basename "$1")"
  local sum; sum="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then return; fi
  echo "==> installing $req (torch is large: a few minutes the first time)"
  "$VENV/bin/python" -m pip install -q --progress-bar off -r "$req"
  echo "$sum" > "$stamp"
}

install_chromium() {  # Debian's chromium for the end-to-end browser tests; never a downloaded browser
  command -v chromium >/dev/null && return
  local SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null; then
    echo "==> installing Debian's chromium (browser tests)"
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: no apt-get: install Chromium at /usr/bin/chromium for the browser tests" >&2
  fi
}

install_nginx() {  # Debian's nginx for the loopback test of deploy/ (the test runs its own unprivileged nginx)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] && return
  local SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null; then
    echo "==> installing Debian's nginx (deployment test)"
    { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; } \
      || echo "warning: installing nginx failed; the deployment test will say so" >&2
  else
    echo "warning: no apt-get: install nginx for the deployment test" >&2
  fi
}

case "$cmd" in
  app)
    need_python; make_venv; install_reqs requirements.txt
    # streamlit run app.py, warmed up (imports, default model and views) before it accepts connections
    exec "$VENV/bin/python" -m ui.serve "$@"
    ;;
  test)
    need_python; make_venv; install_reqs requirements-dev.txt; install_chromium; install_nginx
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: bash run.sh app [streamlit args] | bash run.sh test [pytest args]" >&2
    exit 2
    ;;
esac
