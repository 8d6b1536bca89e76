#!/usr/bin/env bash
# Load comparison: http-cache against nginx's proxy_cache, both in front of
# the demo origin, serving one cached URL to wrk.
#
# Everything listens on 127.0.0.1 and everything started here is stopped on
# exit. Tunables (environment): THREADS (2), CONNS (64), DURATION (10s),
# ROUNDS (3, alternating the two servers; the summary is the median), SIZE (body bytes, 1024),
# BASE_PORT (19000: origin, +80 http-cache, +81 nginx).
#
#   bash examples/http-cache/loadtest.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-1024}
BASE_PORT=${BASE_PORT:-19000}
ORIGIN_PORT=$BASE_PORT
PROXY_PORT=$((BASE_PORT + 80))
NGINX_PORT=$((BASE_PORT + 81))
URL_PATH="/asset/bench.bin?size=$SIZE"

need_install=()
command -v wrk >/dev/null || need_install+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_install+=(nginx-light)
if [ ${#need_install[@]} -gt 0 ]; then
	echo "installing ${need_install[*]}"
	apt-get update -qq
	apt-get install -y -qq "${need_install[@]}" >/dev/null || apt-get install -y -qq wrk nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

tmp=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "building http-cache"
(cd examples/http-cache && go build -o "$tmp/http-cache" .)

"$tmp/http-cache" -origin-only -listen "127.0.0.1:$ORIGIN_PORT" -demo-delay 50ms -log-level warn >/dev/null &
pids+=($!)
"$tmp/http-cache" -origin "http://127.0.0.1:$ORIGIN_PORT" -listen "127.0.0.1:$PROXY_PORT" -log-level warn >/dev/null &
pids+=($!)

mkdir -p "$tmp/nginx/cache" "$tmp/nginx/temp"
user_line=""
if [ "$(id -u)" = 0 ]; then
	user_line="user root root;" # workers must reach the temp dir, which is root's
fi
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $tmp/nginx/temp/body;
	proxy_temp_path $tmp/nginx/temp/proxy;
	fastcgi_temp_path $tmp/nginx/temp/fastcgi;
	uwsgi_temp_path $tmp/nginx/temp/uwsgi;
	scgi_temp_path $tmp/nginx/temp/scgi;
	proxy_cache_path $tmp/nginx/cache levels=1:2 keys_zone=hc:16m max_size=256m inactive=60m use_temp_path=off;
	upstream origin {
		server 127.0.0.1:$ORIGIN_PORT;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:$NGINX_PORT;
		location / {
			proxy_pass http://origin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_cache hc;
			proxy_cache_lock on;
			proxy_cache_revalidate on;
			proxy_cache_use_stale updating;
			proxy_cache_background_update on;
			add_header X-Cache \$upstream_cache_status;
		}
	}
}
EOF
"$NGINX" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
pids+=($!)

wait_port() {
	for _ in $(seq 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$1/"; then
			return 0
		fi
		sleep 0.1
	done
	echo "nothing answers on port $1" >&2
	[ -f "$tmp/nginx/error.log" ] && cat "$tmp/nginx/error.log" >&2
	exit 1
}
wait_port "$ORIGIN_PORT"
wait_port "$PROXY_PORT"
wait_port "$NGINX_PORT"

# Warm both caches and check that the next request is a hit.
for port in "$PROXY_PORT" "$NGINX_PORT"; do
	curl -s -o /dev/null "http://127.0.0.1:$port$URL_PATH"
	status=$(curl -s -D - -o /dev/null "http://127.0.0.1:$port$URL_PATH" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}')
	if [ "$status" != "HIT" ]; then
		echo "port $port: second request is X-Cache '$status', not HIT" >&2
		exit 1
	fi
done

echo
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$("$NGINX" -v 2>&1), $(go version | cut -d' ' -f3), wrk -t$THREADS -c$CONNS -d$DURATION --latency"
echo "URL: $URL_PATH ($SIZE-byte body), all on 127.0.0.1, wrk on the same CPUs"
echo

# to_ms converts a wrk latency (850.00us, 1.20ms, 1.02s) to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN {
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v * 1000 }
		else printf "%s", v
	}'
}

declare -A rps_all p99_all
printf '%-6s %-11s %12s %10s %10s\n' round server "requests/s" "p50 ms" "p99 ms"
for round in $(seq "$ROUNDS"); do
	for name in http-cache nginx; do
		port=$PROXY_PORT
		[ "$name" = nginx ] && port=$NGINX_PORT
		out="$tmp/wrk-$name-$round.txt"
		timeout 120 wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "http://127.0.0.1:$port$URL_PATH" >"$out"
		rps=$(awk '/^Requests\/sec:/{print $2}' "$out")
		p50=$(to_ms "$(awk '$1=="50%"{print $2}' "$out")")
		p99=$(to_ms "$(awk '$1=="99%"{print $2}' "$out")")
		errors=$(awk '/Non-2xx|Socket errors/{print}' "$out")
		printf '%-6s %-11s %12.0f %10s %10s %s\n' "$round" "$name" "$rps" "$p50" "$p99" "$errors"
		rps_all[$name]+="$rps "
		p99_all[$name]+="$p99 "
	done
done

# median prints the median of its arguments.
median() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
echo
declare -A rps_med p99_med
for name in http-cache nginx; do
	# shellcheck disable=SC2086 # word splitting of the collected values is intended
	rps_med[$name]=$(median ${rps_all[$name]})
	# shellcheck disable=SC2086
	p99_med[$name]=$(median ${p99_all[$name]})
	printf 'median of %s rounds, %-11s %8.0f requests/s  p99 %.3f ms\n' "$ROUNDS" "$name" "${rps_med[$name]}" "${p99_med[$name]}"
done
awk -v a="${rps_med[http-cache]}" -v b="${rps_med[nginx]}" -v pa="${p99_med[http-cache]}" -v pb="${p99_med[nginx]}" \
	'BEGIN { printf "http-cache / nginx: throughput %.2fx, p99 %.2fx\n", a/b, pa/pb }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
