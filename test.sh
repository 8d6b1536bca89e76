#!/usr/bin/env bash
# Vet and test every Go module in this repository: the root module and each
# directory with a go.mod of its own (bench/, rediscache/, ...).
#
# rediscache's tests run real redis-server processes (Debian: apt-get install
# redis-server). Without the binary they skip, unless SHARDMAP_REQUIRE_REDIS=1
# or CI=true, under which they fail.
set -euo pipefail
cd "$(dirname "$0")"

mapfile -t modules < <(find . -name go.mod -not -path './.git/*' -not -path '*/testdata/*' -printf '%h\n' | sort)
failed=()
for m in "${modules[@]}"; do
	race=-race
	# bench/ replays its workloads at toy sizes in its tests; they run without
	# the race detector, as they always have.
	[ "$m" = ./bench ] && race=
	echo "== $m"
	# A failing module does not stop the others from being tested. The root
	# module's race run takes 4-10 minutes on 2 cores, near go test's
	# default 10-minute limit on a slow machine: the limit is raised.
	if ! (cd "$m" && go vet ./... && go test $race -timeout 15m ./...); then
		failed+=("$m")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAIL: ${failed[*]}"
	exit 1
fi
