# shellcheck shell=bash disable=SC2016  # single quotes on purpose
# Small helpers shared by scripts/services.sh. Sourced, never executed.
# Expects RUN (the .run/ directory) to be set by the caller.

# ---------------------------------------------------------------- output

# One short status line per service: "name   state   detail".
svc_line() {
  printf '%-14s %-8s %s\n' "$1" "$2" "${3:-}"
}

warn() {
  printf 'WARN: %s\n' "$*" >&2
}

die() {
  printf 'ERROR: %s\n' "$*" >&2
  exit 1
}

# die_log LOGFILE MESSAGE...: fail, showing the tail of a log file that
# probably explains why.
die_log() {
  local logf=$1
  shift
  printf 'ERROR: %s\n' "$*" >&2
  if [[ -n $logf && -s $logf ]]; then
    printf -- '--- last lines of %s ---\n' "$logf" >&2
    tail -n 20 -- "$logf" >&2 || true
  fi
  exit 1
}

# ---------------------------------------------------------------- time

# Milliseconds since the epoch (bash 5 EPOCHREALTIME, no fork).
now_ms() {
  local t=$EPOCHREALTIME
  printf '%d\n' $((${t%[.,]*} * 1000 + 10#${t#*[.,]} / 1000))
}

# wait_for SECONDS CMD [ARGS...]: run CMD every 0.2 s until it succeeds
# (return 0) or SECONDS have passed (return 1). CMD output is discarded.
wait_for() {
  local secs=$1
  shift
  local deadline
  deadline=$(($(now_ms) + secs * 1000))
  while true; do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    if (($(now_ms) >= deadline)); then
      return 1
    fi
    sleep 0.2
  done
}

# ---------------------------------------------------------------- probes

# tcp_open PORT [HOST]: something accepts TCP connections there.
tcp_open() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "${2:-127.0.0.1}" "$1" 2>/dev/null
}

# http_code URL [CURL ARGS...]: print the HTTP status ("000" if nothing
# answered). Never fails.
http_code() {
  local url=$1
  shift
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" "$url" 2>/dev/null || true
}

# ---------------------------------------------------------------- pids

# read_pid FILE: print the pid stored in FILE, fail if none.
read_pid() {
  local p=''
  [[ -r $1 ]] || return 1
  read -r p <"$1" || true
  [[ $p =~ ^[0-9]+$ ]] || return 1
  printf '%s\n' "$p"
}

# pid_matches PID PATTERN: PID is alive and its command line contains
# PATTERN (a fixed string), so a recycled pid is not mistaken for ours.
pid_matches() {
  local pid=$1 pattern=$2 cmd
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$pattern"* ]]
}

# pidfile_matches FILE PATTERN
pidfile_matches() {
  local pid
  pid=$(read_pid "$1") || return 1
  pid_matches "$pid" "$2"
}

pid_gone() {
  ! kill -0 "$1" 2>/dev/null
}

# stop_pid PID [SECONDS]: SIGTERM, wait, then SIGKILL.
stop_pid() {
  local pid=$1 secs=${2:-20}
  kill -TERM "$pid" 2>/dev/null || return 0
  if ! wait_for "$secs" pid_gone "$pid"; then
    warn "pid $pid did not stop after ${secs}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 5 pid_gone "$pid" || true
  fi
}

# ------------------------------------------------- started-by-us registry
# .run/started-by-us holds one "service pid" line for each preinstalled
# service (postgres, mariadb, redis, rabbitmq) that `up` itself started, so
# `down` never stops a service it found already running.

STARTED_FILE=${STARTED_FILE:-$RUN/started-by-us}

mark_started() {
  unmark_started "$1"
  printf '%s %s\n' "$1" "$2" >>"$STARTED_FILE"
}

unmark_started() {
  [[ -f $STARTED_FILE ]] || return 0
  local tmp
  tmp=$(mktemp "$STARTED_FILE.XXXXXX")
  awk -v s="$1" '$1 != s' "$STARTED_FILE" >"$tmp" || true
  mv -f -- "$tmp" "$STARTED_FILE"
  [[ -s $STARTED_FILE ]] || rm -f -- "$STARTED_FILE"
}

# started_pid SERVICE: print the pid recorded for SERVICE, fail if none.
started_pid() {
  [[ -f $STARTED_FILE ]] || return 1
  local pid
  pid=$(awk -v s="$1" '$1 == s { print $2; exit }' "$STARTED_FILE")
  [[ -n $pid ]] || return 1
  printf '%s\n' "$pid"
}

# ---------------------------------------------------------------- files

# write_file_atomic FILE MODE: write stdin to FILE via a temp file + rename.
write_file_atomic() {
  local dest=$1 mode=${2:-644} tmp
  tmp=$(mktemp "$dest.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  mv -f -- "$tmp" "$dest"
}

# env_quote VALUE: VALUE as-is when it only holds safe characters, else
# single-quoted (readable by bash and by python-dotenv alike).
env_quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=,@+%-]*$ ]]; then
    printf '%s' "$1"
  else
    printf "'%s'" "${1//\'/\'\\\'\'}"
  fi
}

# port_closed PORT [HOST]
port_closed() {
  ! tcp_open "$@"
}
