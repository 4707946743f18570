#!/bin/sh
# The container's process, chosen by arguments (one image for every service and role):
#   web SERVICE        gunicorn on the service's port (PORT, else 8001-8007 as in CONTRACTS.md)
#   worker SERVICE     consumers + outbox relay + scheduled jobs, metrics on WORKER_METRICS_PORT
#   migrate SERVICE    apply the service's migrations, then exit (a one-shot job)
#   ecom ARGS...       any `ecom` command: dlq list|replay QUEUE, job SERVICE NAME, token ...
#   healthcheck        used by the image's HEALTHCHECK
# Every long-running role is exec'd, so it is PID 1 and receives SIGTERM itself.
set -eu

SERVICES="catalog orders inventory aftersales logistics billing marketing analytics console"
APP_DIR="${ECOM_APP_DIR:-/app}"
ROLE_FILE="${ECOM_VAR_DIR:-/tmp/ecom}/role"

usage() {
    cat <<USAGE
usage: entrypoint.sh web|worker|migrate SERVICE
       entrypoint.sh ecom ARGS...
       entrypoint.sh healthcheck
services: $SERVICES
USAGE
}

port_of() {
    case "$1" in
        catalog) echo 8001 ;;
        orders) echo 8002 ;;
        inventory) echo 8003 ;;
        aftersales) echo 8004 ;;
        logistics) echo 8005 ;;
        billing) echo 8006 ;;
        marketing) echo 8007 ;;
        analytics) echo 8008 ;;
        console) echo 8000 ;;
        *) return 1 ;;
    esac
}

service_arg() {
    if [ $# -lt 1 ] || ! port_of "$1" >/dev/null; then
        echo "entrypoint: a service is required, one of: $SERVICES" >&2
        usage >&2
        exit 2
    fi
    echo "$1"
}

# What this container runs, for the health check (a separate process that cannot see our argv).
remember() {
    mkdir -p "$(dirname "$ROLE_FILE")"
    printf '%s %s\n' "$1" "$2" >"$ROLE_FILE"
}

role="${1:-help}"
[ $# -gt 0 ] && shift

case "$role" in
    web)
        service="$(service_arg "$@")"
        port="${PORT:-$(port_of "$service")}"
        remember web "$port"
        exec gunicorn --config "$APP_DIR/gunicorn.conf.py" --bind "0.0.0.0:$port" \
            --name "ecom-$service-web" "$service.app:create_app()"
        ;;
    worker)
        service="$(service_arg "$@")"
        remember worker "${WORKER_METRICS_PORT:-0}"
        exec python "$APP_DIR/run_worker.py" "$service"
        ;;
    migrate)
        service="$(service_arg "$@")"
        remember migrate 0
        exec ecom migrate "$service"
        ;;
    ecom)
        exec ecom "$@"
        ;;
    healthcheck)
        [ -f "$ROLE_FILE" ] || exit 0
        read -r kind port <"$ROLE_FILE"
        case "$kind" in
            web) path=/healthz ;;
            worker) path=/metrics ;;
            *) exit 0 ;;
        esac
        [ "$port" != "0" ] || exit 0
        exec python -c '
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=2).read(1)
except Exception as exc:
    sys.exit(f"unhealthy: {sys.argv[1]}: {exc}")
' "http://127.0.0.1:$port$path"
        ;;
    help | -h | --help)
        usage
        ;;
    *)
        echo "entrypoint: unknown role '$role'" >&2
        usage >&2
        exit 2
        ;;
esac
