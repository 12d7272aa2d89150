#!/usr/bin/env bash
# Single-node Apache Kafka 4.x (KRaft, combined broker/controller on loopback) from Maven Central
# jars, for development and tests on machines without a Docker engine. See docs/infra-notes.md.
#
#   scripts/kafka.sh fetch          copy the broker's runtime jars into .services/kafka/lib (cached)
#   scripts/kafka.sh start [PORT]   format a fresh data dir, start the broker, wait until it is ready,
#                                   print 127.0.0.1:PORT (also written to .services/kafka/bootstrap)
#   scripts/kafka.sh stop           stop the broker started by `start`
#   scripts/kafka.sh status         exit 0 and print the bootstrap address when the broker runs
#   scripts/kafka.sh resume         start the stopped broker again on its port, keeping its data
#                                   (outage tests: stop, wait, resume)
#
# PORT defaults to 19092; the controller listens on PORT+1. KAFKA_START_TIMEOUT (seconds, default
# 90) bounds the wait for readiness; KAFKA_HEAP_OPTS overrides the JVM heap flags.
# KAFKA_STATE_DIR (default .services/kafka) holds one broker's config, data, log, pid and
# bootstrap file: point it elsewhere to run a second, independent broker on other ports (the
# jars stay shared in .services/kafka/lib).
#
# Secured broker (tests of SSL and SASL): KAFKA_SECURITY=1 scripts/kafka.sh start [PORT] adds to
# the PLAINTEXT listener on PORT (internal traffic, admin, test set-up) and the controller on
# PORT+1 four secured listeners, all on 127.0.0.1:
#     PORT+2  SASL_PLAINTEXT   mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#     PORT+3  SSL              server authentication only (no client certificates)
#     PORT+4  SASL_SSL         mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
#     PORT+5  SSL, mutual      listener MTLS: ssl.client.auth=required, client certificates
#                              signed by the same CA
# `start` generates, in KAFKA_STATE_DIR/tls, a self-signed CA (ca.pem, for clients) and a broker
# certificate for localhost and 127.0.0.1 (PKCS12 keystore and truststore); for the MTLS
# listener, a client certificate for the user (client.pem, CN=the user, signed by that CA) with
# its key in PKCS#8 PEM encrypted with a random passphrase (client.key), and a second client
# certificate and key (untrusted-client.pem and .key, same passphrase) signed by another CA,
# which the broker does not trust, for tests of a refused certificate. One user has the
# same password for every mechanism: PLAIN from the JAAS config in server.properties, SCRAM
# credentials added when the data dir is formatted. KAFKA_SASL_USERNAME (default driftstream)
# and KAFKA_SASL_PASSWORD (default: random) set them; letters, digits and ._- only. Test
# credentials only: the password is on StorageTool's command line while it formats.
# KAFKA_STATE_DIR/security.env (mode 600, KEY=value lines) tells clients where everything is:
#     KAFKA_PLAINTEXT KAFKA_SASL_PLAINTEXT KAFKA_SSL KAFKA_SASL_SSL   host:port of each listener
#     KAFKA_SASL_MECHANISMS KAFKA_SASL_USERNAME KAFKA_SASL_PASSWORD KAFKA_SSL_CAFILE
#     KAFKA_MTLS                                        host:port of the MTLS listener
#     KAFKA_SSL_CERTFILE KAFKA_SSL_KEYFILE KAFKA_SSL_KEY_PASSWORD   the client certificate, its
#                                                       encrypted key and the key's passphrase
#     KAFKA_SSL_UNTRUSTED_CERTFILE KAFKA_SSL_UNTRUSTED_KEYFILE      the untrusted ones
# The last stdout line is still the PLAINTEXT bootstrap; stop, status and resume work unchanged.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
POM="$ROOT/scripts/kafka/pom.xml"
KAFKA_DIR="$ROOT/.services/kafka"
LIB_DIR="$KAFKA_DIR/lib"
STATE_DIR="${KAFKA_STATE_DIR:-$KAFKA_DIR}"
DATA_DIR="$STATE_DIR/data"
PID_FILE="$STATE_DIR/broker.pid"
LOG_FILE="$STATE_DIR/broker.log"
BOOTSTRAP_FILE="$STATE_DIR/bootstrap"
STAMP_FILE="$LIB_DIR/.fetched"
DEFAULT_PORT=19092
READY_LINE="Kafka Server started"

log() { echo "kafka.sh: $*" >&2; }
die() { log "$*"; exit 1; }

pom_stamp() { sha256sum "$POM" | cut -d' ' -f1; }

is_fetched() { [[ -f "$STAMP_FILE" && "$(cat "$STAMP_FILE")" == "$(pom_stamp)" ]]; }

cmd_fetch() {
    if is_fetched; then
        log "jars already in $LIB_DIR"
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
    command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
    local tmp="$KAFKA_DIR/lib.tmp"
    rm -rf "$tmp"
    mkdir -p "$KAFKA_DIR"
    log "fetching Kafka runtime jars (first run downloads ~45 MB into ~/.m2)"
    # outputDirectory must be absolute: Maven resolves relative paths against the pom's folder.
    mvn -B -q -f "$POM" \
        org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$tmp" >"$KAFKA_DIR/fetch.log" 2>&1 \
        || { cat "$KAFKA_DIR/fetch.log" >&2; die "mvn copy-dependencies failed"; }
    compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || die "no kafka_2.13 jar after fetch"
    compgen -G "$tmp/log4j-slf4j-impl-*.jar" >/dev/null || die "no log4j binding after fetch"
    pom_stamp >"$tmp/.fetched"
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    log "jars in $LIB_DIR: $(find "$LIB_DIR" -name '*.jar' | wc -l)"
}

broker_pid() {
    # Prints the pid of our running broker; fails when there is none (or the pid was reused).
    [[ -f "$PID_FILE" ]] || return 1
    local pid
    pid="$(cat "$PID_FILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka.Kafka" || return 1
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

now() { date +%s.%N; }

write_config() {
    local port="$1" cport="$2" secured="${3:-0}"
    local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
    local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    if [[ "$secured" == 1 ]]; then
        # PLAINTEXT stays first and CONTROLLER last: `resume` reads both from this line.
        listeners="PLAINTEXT://127.0.0.1:$port,SASL_PLAINTEXT://127.0.0.1:$((port + 2))"
        listeners+=",SSL://127.0.0.1:$((port + 3)),SASL_SSL://127.0.0.1:$((port + 4))"
        listeners+=",MTLS://127.0.0.1:$((port + 5)),CONTROLLER://127.0.0.1:$cport"
        protocols+=",SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,MTLS:SSL"
    fi
    mkdir -p "$STATE_DIR"
    cat >"$STATE_DIR/server.properties" <<EOF
# Written by scripts/kafka.sh start; rewritten on every start.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
log.dirs=$DATA_DIR
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
EOF
    # A properties file: Kafka's shipped YAML config needs a jar this classpath may not carry.
    cat >"$STATE_DIR/log4j2.properties" <<'EOF'
# Written by scripts/kafka.sh start. Quiet broker; the start-up line stays visible for polling.
status = warn
name = driftstream-kafka
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
EOF
}

cmd_start() {
    local port="${1:-$DEFAULT_PORT}"
    [[ "$port" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$port'"
    local cport=$((port + 1))
    local bootstrap="127.0.0.1:$port"
    local timeout="${KAFKA_START_TIMEOUT:-90}"
    local secured="${KAFKA_SECURITY:-0}"
    [[ "$secured" == 0 || "$secured" == 1 ]] || die "KAFKA_SECURITY must be 0 or 1, got '$secured'"
    local ports=("$port" "$cport")
    if [[ "$secured" == 1 ]]; then
        ports+=("$((port + 2))" "$((port + 3))" "$((port + 4))" "$((port + 5))")
        ((port + 5 <= 65535)) || die "PORT+5 must be a TCP port, got PORT $port"
        command -v openssl >/dev/null || die "openssl not found (KAFKA_SECURITY=1 needs it)"
        command -v keytool >/dev/null || die "keytool not found (it comes with the JDK)"
        SASL_USER="${KAFKA_SASL_USERNAME:-driftstream}"
        SASL_PASSWORD="${KAFKA_SASL_PASSWORD:-$(head -c 18 /dev/urandom | base64 | tr '+/' '._')}"
        # they go unquoted into --add-scram's [name=...,password=...] and quoted into a JAAS line
        [[ "$SASL_USER" =~ ^[A-Za-z0-9._-]+$ ]] \
            || die "KAFKA_SASL_USERNAME: letters, digits and ._- only"
        [[ "$SASL_PASSWORD" =~ ^[A-Za-z0-9._-]+$ ]] \
            || die "KAFKA_SASL_PASSWORD: letters, digits and ._- only"
    fi

    local pid
    if pid="$(broker_pid)"; then
        local running
        running="$(cat "$BOOTSTRAP_FILE" 2>/dev/null || true)"
        [[ "$running" == "$bootstrap" ]] || die "a broker already runs (pid $pid, ${running:-?}); stop it first"
        log "already running (pid $pid)"
        echo "$bootstrap"
        return 0
    fi
    for p in "${ports[@]}"; do
        ! port_open "$p" || die "port $p on 127.0.0.1 is already in use"
    done

    cmd_fetch
    local t0
    t0="$(now)"
    write_config "$port" "$cport" "$secured"
    rm -rf "$DATA_DIR" "$BOOTSTRAP_FILE"
    local scram_args=()
    if [[ "$secured" == 1 ]]; then
        write_security "$port"
        scram_args=(--add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]"
               --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]")
    fi
    local cluster_id
    # A cluster id is 16 random bytes in URL-safe base64 without padding: 22 characters. One in
    # 64 starts with "-", which StorageTool's parser takes for an option: draw again.
    cluster_id="-"
    while [[ "$cluster_id" == -* ]]; do
        cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | cut -c1-22)"
    done
    local heap="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
    # "lib/*" stays quoted: the JVM expands the wildcard, not the shell.
    # shellcheck disable=SC2086
    java $heap -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties" -cp "$LIB_DIR/*" \
        kafka.tools.StorageTool format --standalone -t "$cluster_id" \
        ${scram_args[@]+"${scram_args[@]}"} \
        -c "$STATE_DIR/server.properties" >"$STATE_DIR/format.log" 2>&1 \
        || { cat "$STATE_DIR/format.log" >&2; die "StorageTool format failed"; }

    : >"$LOG_FILE"
    launch "$bootstrap" "$timeout" "$t0"
    if [[ "$secured" == 1 ]]; then
        log "secured listeners: SASL_PLAINTEXT 127.0.0.1:$((port + 2))," \
            "SSL 127.0.0.1:$((port + 3)), SASL_SSL 127.0.0.1:$((port + 4))," \
            "MTLS 127.0.0.1:$((port + 5)); user $SASL_USER, CA, client certificates and" \
            "passwords in $SECURITY_FILE"
    fi
}

write_security() {
    # KAFKA_SECURITY=1: TLS material in STATE_DIR/tls, SSL and SASL settings appended to
    # server.properties, STATE_DIR/security.env for clients (user: SASL_USER, SASL_PASSWORD;
    # the client certificates' CN is SASL_USER too).
    local port="$1"
    local tls="$STATE_DIR/tls"
    rm -rf "$tls"
    mkdir -m 700 "$tls"
    # The key stores' password reaches openssl and keytool through the environment, never argv.
    local store_password key_password
    store_password="$(head -c 18 /dev/urandom | base64 | tr '+/' '._')"
    key_password="$(head -c 18 /dev/urandom | base64 | tr '+/' '._')"
    export KAFKA_SH_STORE_PASSWORD="$store_password" KAFKA_SH_KEY_PASSWORD="$key_password"
    # One && chain: errexit does not act inside a subshell that is followed by ||.
    (
        cd "$tls" &&
        printf '%s\n' "basicConstraints=CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" \
            "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >broker.ext &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout ca.key -out ca.pem \
            -subj "/CN=driftstream test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        openssl req -newkey rsa:2048 -nodes -keyout broker.key -out broker.csr \
            -subj "/CN=localhost" &&
        openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -days 30 \
            -set_serial "0x$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
            -extfile broker.ext -out broker.pem &&
        openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker \
            -out broker.keystore.p12 -passout env:KAFKA_SH_STORE_PASSWORD &&
        keytool -importcert -noprompt -alias ca -file ca.pem -keystore broker.truststore.p12 \
            -storetype PKCS12 -storepass:env KAFKA_SH_STORE_PASSWORD &&
        rm -f broker.csr broker.ext &&
        client_certificate client ca &&
        openssl req -x509 -newkey rsa:2048 -nodes -days 30 -keyout untrusted-ca.key \
            -out untrusted-ca.pem -subj "/CN=driftstream untrusted test CA" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign" &&
        client_certificate untrusted-client untrusted-ca &&
        rm -f untrusted-ca.key untrusted-ca.pem
    ) >"$STATE_DIR/tls.log" 2>&1 \
        || { cat "$STATE_DIR/tls.log" >&2; die "making certificates failed"; }
    unset KAFKA_SH_STORE_PASSWORD KAFKA_SH_KEY_PASSWORD

    local plain="org.apache.kafka.common.security.plain.PlainLoginModule required"
    plain+=" user_$SASL_USER=\"$SASL_PASSWORD\";"
    local scram_module="org.apache.kafka.common.security.scram.ScramLoginModule required;"
    chmod 600 "$STATE_DIR/server.properties"
    {
        echo ""
        echo "# KAFKA_SECURITY=1: TLS (server authentication only) and SASL users"
        echo "ssl.keystore.type=PKCS12"
        echo "ssl.keystore.location=$tls/broker.keystore.p12"
        echo "ssl.keystore.password=$store_password"
        echo "ssl.key.password=$store_password"
        echo "ssl.truststore.type=PKCS12"
        echo "ssl.truststore.location=$tls/broker.truststore.p12"
        echo "ssl.truststore.password=$store_password"
        echo "ssl.client.auth=none"
        echo "listener.name.mtls.ssl.client.auth=required"
        echo "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512"
        local listener
        for listener in sasl_plaintext sasl_ssl; do
            echo "listener.name.$listener.plain.sasl.jaas.config=$plain"
            echo "listener.name.$listener.scram-sha-256.sasl.jaas.config=$scram_module"
            echo "listener.name.$listener.scram-sha-512.sasl.jaas.config=$scram_module"
        done
    } >>"$STATE_DIR/server.properties"

    SECURITY_FILE="$STATE_DIR/security.env"
    (umask 077 && cat >"$SECURITY_FILE" <<EOF
KAFKA_PLAINTEXT=127.0.0.1:$port
KAFKA_SASL_PLAINTEXT=127.0.0.1:$((port + 2))
KAFKA_SSL=127.0.0.1:$((port + 3))
KAFKA_SASL_SSL=127.0.0.1:$((port + 4))
KAFKA_SASL_MECHANISMS=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
KAFKA_SASL_USERNAME=$SASL_USER
KAFKA_SASL_PASSWORD=$SASL_PASSWORD
KAFKA_SSL_CAFILE=$tls/ca.pem
KAFKA_MTLS=127.0.0.1:$((port + 5))
KAFKA_SSL_CERTFILE=$tls/client.pem
KAFKA_SSL_KEYFILE=$tls/client.key
KAFKA_SSL_KEY_PASSWORD=$key_password
KAFKA_SSL_UNTRUSTED_CERTFILE=$tls/untrusted-client.pem
KAFKA_SSL_UNTRUSTED_KEYFILE=$tls/untrusted-client.key
EOF
    )
}

client_certificate() {
    # In the current directory: NAME.pem, a client certificate for CN=SASL_USER signed by the CA
    # in CA.pem and CA.key, and NAME.key, its key in PKCS#8 PEM encrypted (AES-256) with the
    # passphrase in KAFKA_SH_KEY_PASSWORD. One && chain, like write_security's.
    local name="$1" ca="$2"
    printf '%s\n' "basicConstraints=CA:FALSE" \
        "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=clientAuth" \
        "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$name.ext" &&
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-256-cbc \
        -pass env:KAFKA_SH_KEY_PASSWORD -out "$name.key" &&
    grep -q "^-----BEGIN ENCRYPTED PRIVATE KEY-----$" "$name.key" &&
    openssl req -new -key "$name.key" -passin env:KAFKA_SH_KEY_PASSWORD -out "$name.csr" \
        -subj "/CN=$SASL_USER" &&
    openssl x509 -req -in "$name.csr" -CA "$ca.pem" -CAkey "$ca.key" -days 30 \
        -set_serial "0x$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
        -extfile "$name.ext" -out "$name.pem" &&
    rm -f "$name.csr" "$name.ext"
}

launch() {
    # Starts the JVM on the config in STATE_DIR and waits for readiness; prints the bootstrap.
    local bootstrap="$1" timeout="$2" t0="$3"
    local heap="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
    local pid
    # Only what this start writes counts: after `resume` the log already holds an older line.
    local log_from
    log_from=$(($(stat -c %s "$LOG_FILE" 2>/dev/null || echo 0) + 1))
    # shellcheck disable=SC2086
    nohup java $heap -Dlog4j2.configurationFile="$STATE_DIR/log4j2.properties" -cp "$LIB_DIR/*" \
        kafka.Kafka "$STATE_DIR/server.properties" >>"$LOG_FILE" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$PID_FILE"

    local deadline=$((SECONDS + timeout))
    # The broker's own word that it serves requests (its PLAINTEXT port opens at the same moment).
    until tail -c +"$log_from" "$LOG_FILE" 2>/dev/null | grep -q "$READY_LINE"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 40 "$LOG_FILE" >&2 || true
            rm -f "$PID_FILE"
            die "broker exited during start-up (log: $LOG_FILE)"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 40 "$LOG_FILE" >&2 || true
            cmd_stop
            die "broker not ready after ${timeout}s (log: $LOG_FILE)"
        fi
        sleep 0.2
    done
    echo "$bootstrap" >"$BOOTSTRAP_FILE"
    log "ready in $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')s" \
        "(format + boot; pid $pid, log $LOG_FILE)"
    echo "$bootstrap"
}

cmd_resume() {
    local props="$STATE_DIR/server.properties"
    [[ -f "$props" && -f "$DATA_DIR/meta.properties" ]] \
        || die "nothing to resume in $STATE_DIR (run start first)"
    local pid
    if pid="$(broker_pid)"; then
        die "a broker already runs (pid $pid)"
    fi
    local port cport
    port="$(sed -n 's#^listeners=PLAINTEXT://127.0.0.1:\([0-9]*\),.*#\1#p' "$props")"
    cport="$(sed -n 's#^listeners=.*CONTROLLER://127.0.0.1:\([0-9]*\)$#\1#p' "$props")"
    [[ -n "$port" && -n "$cport" ]] || die "no PLAINTEXT/CONTROLLER listeners in $props"
    # every listener's port: PORT and PORT+1, and the secured ones of a KAFKA_SECURITY=1 broker
    local ports
    ports="$(sed -n 's#^listeners=##p' "$props" | grep -o ':[0-9]\+' | tr -d ':')"
    for p in $ports; do
        ! port_open "$p" || die "port $p on 127.0.0.1 is already in use"
    done
    cmd_fetch
    launch "127.0.0.1:$port" "${KAFKA_START_TIMEOUT:-90}" "$(now)"
}

cmd_stop() {
    local pid
    if ! pid="$(broker_pid)"; then
        log "not running"
        rm -f "$PID_FILE" "$BOOTSTRAP_FILE"
        return 0
    fi
    kill -TERM "$pid"
    local deadline=$((SECONDS + 30))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "no clean shutdown after 30s; killing pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.2
    done
    rm -f "$PID_FILE" "$BOOTSTRAP_FILE"
    log "stopped (pid $pid)"
}

cmd_status() {
    local pid
    if pid="$(broker_pid)"; then
        echo "running pid=$pid bootstrap=$(cat "$BOOTSTRAP_FILE" 2>/dev/null || echo starting)"
        return 0
    fi
    echo "stopped"
    return 3
}

main() {
    local cmd="${1:-}"
    shift || true
    case "$cmd" in
        fetch) cmd_fetch ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop ;;
        status) cmd_status ;;
        resume) cmd_resume ;;
        *) echo "usage: $0 {fetch|start [PORT]|stop|status|resume}" >&2; exit 2 ;;
    esac
}

main "$@"
