#!/usr/bin/env bash
# provision.sh: submits and starts the units of this directory, as the
# original's services/provision.sh did with fleetctl (submit the templates,
# start the instances, the global and the pinned unit), here with the
# corral CLI. Run it where you ran `corral up -d` (client commands find
# the local cluster from there), or with CORRAL_ENDPOINT set.
#
#   examples/units/provision.sh              # web@1..3, sidekicks, presence, registry-watch
#   INSTANCES="1 2" examples/units/provision.sh
#   examples/units/provision.sh --render DIR # only write the units as they would be sent
#
# Units run with systemd's environment (PATH=/usr/local/sbin:...:/bin, no
# CORRAL_ENDPOINT, working directory /), not the caller's. So before
# submitting, this script writes into each unit's Environment= lines:
#   CORRAL           the absolute path of the corral binary it runs with
#   CORRAL_ENDPOINT  the cluster's servers (host:port, comma-separated)
#   WEB_PORT_BASE    web@N listens on WEB_PORT_BASE+N (default 8000)
#
# Settings (environment): CORRAL (the binary; default: corral in PATH, else
# this checkout's target/release or target/debug), CORRAL_ENDPOINT,
# WEB_PORT_BASE, INSTANCES (default "1 2 3").
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() {
    echo "provision.sh: $*" >&2
    exit 1
}

render_to=
case "${1:-}" in
    --render)
        [ -n "${2:-}" ] || die "--render needs a directory"
        render_to=$2
        ;;
    "") ;;
    -h | --help)
        sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument $1 (use --render DIR, or nothing)" ;;
esac

# The corral binary, as an absolute path the units can run.
corral=${CORRAL:-$(command -v corral || true)}
if [ -z "$corral" ]; then
    for c in "$here/../../target/release/corral" "$here/../../target/debug/corral"; do
        if [ -x "$c" ]; then
            corral=$c
            break
        fi
    done
fi
[ -n "$corral" ] || die "no corral binary found; put it in PATH or set CORRAL=/path/to/corral"
[ -x "$corral" ] || die "$corral is not an executable file; set CORRAL=/path/to/corral"
corral=$(readlink -f "$corral")
case "$corral" in
    *[\"\\%\$\ \&\|]*) die "the corral path $corral has a space or one of \" \\ % \$ & |; copy the binary somewhere plainer" ;;
esac

# The cluster's servers: CORRAL_ENDPOINT, else the local cluster's masters.
endpoint=${CORRAL_ENDPOINT:-}
if [ -z "$endpoint" ]; then
    endpoint=$("$corral" status --json | python3 -c '
import json, sys
masters = [m["master"] for m in json.load(sys.stdin)["machines"] if m.get("master")]
print(",".join(m.split("://", 1)[-1] for m in masters))
') || die "cannot find the local cluster's servers; run this where you ran corral up, or set CORRAL_ENDPOINT=host:5050,..."
fi
[ -n "$endpoint" ] || die "the local cluster has no servers running; start it with corral up -d"
case "$endpoint" in
    *[\"\\%\$\ \&\|]*) die "CORRAL_ENDPOINT=$endpoint has a space or one of \" \\ % \$ & |" ;;
esac

port_base=${WEB_PORT_BASE:-8000}
case "$port_base" in
    '' | *[!0-9]*) die "WEB_PORT_BASE=$port_base is not a number" ;;
esac
instances=${INSTANCES:-1 2 3}
for i in $instances; do
    case "$i" in
        '' | *[!0-9]*) die "instance $i is not a number (web@N listens on WEB_PORT_BASE+N)" ;;
    esac
done

# Render the units: the same files with this cluster's values.
work=${render_to:-$(mktemp -d "${TMPDIR:-/tmp}/corral-units.XXXXXX")}
if [ -z "$render_to" ]; then
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
units=("web@.service" "web-register@.service" "presence.service" "registry-watch.service")
for u in "${units[@]}"; do
    sed -e "s|^Environment=\"CORRAL=.*|Environment=\"CORRAL=$corral\"|" \
        -e "s|^Environment=\"CORRAL_ENDPOINT=.*|Environment=\"CORRAL_ENDPOINT=$endpoint\"|" \
        -e "s|^Environment=\"WEB_PORT_BASE=.*|Environment=\"WEB_PORT_BASE=$port_base\"|" \
        "$here/$u" >"$work/$u"
done
if [ -n "$render_to" ]; then
    echo "rendered ${units[*]} into $work"
    exit 0
fi

export CORRAL_ENDPOINT=$endpoint
cd "$work"
echo "--- submit the templates"
"$corral" submit web@.service web-register@.service
echo "--- start the global unit and the pinned one"
"$corral" start presence.service registry-watch.service
echo "--- start the web instances and their sidekicks"
start=()
for i in $instances; do
    start+=("web@$i.service" "web-register@$i.service")
done
"$corral" start "${start[@]}"
echo "--- the units"
"$corral" list-units
echo "--- the registry"
"$corral" kv ls /services
