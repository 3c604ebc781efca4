#!/bin/sh
# testdata/fuzz/replay.sh - run by make check: each fuzz target built
# without libFuzzer (testdata/fuzz/replay_<what>, -DFUZZ_STANDALONE)
# runs once on every committed input of its corpus and every saved crash
# (testdata/fuzz/corpus/<what>/, testdata/fuzz/crashes/<what>/).  A
# target's invariant broken, or a sanitizer report in an ASan build,
# fails the test.  Targets not built (no DoH) are skipped.
set -e
top=${srcdir:-.}
status=0
for what in dns proxy config base64url request upstream; do
	prog=./testdata/fuzz/replay_$what
	[ -x "$prog" ] || { echo "replay_$what: not built, skipped"; continue; }
	files=$(ls "$top/testdata/fuzz/corpus/$what/"* \
	    "$top/testdata/fuzz/crashes/$what/"* 2>/dev/null || true)
	[ -n "$files" ] || continue
	echo "replay_$what: $(echo "$files" | wc -l) inputs"
	# shellcheck disable=SC2086
	if ! $prog $files; then
		echo "replay_$what: FAILED"
		status=1
	fi
done
exit $status
