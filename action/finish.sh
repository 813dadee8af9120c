#!/usr/bin/env bash
# The tollhouse action's last step (run with `if: always()`): `tollhouse ci` exports the receipts
# first, verifies them, writes the summary to the job's page, and exits per fail-on. The bundle path
# goes to $GITHUB_OUTPUT before anything can fail, so the upload step that follows finds it.
set -uo pipefail

: "${RUNNER_TEMP:?not running as a GitHub Actions step (RUNNER_TEMP unset)}"
: "${GITHUB_OUTPUT:?}"

cd "${INPUT_WORKING_DIRECTORY:-.}" || exit 2
out="$RUNNER_TEMP/tollhouse-out"
mkdir -p "$out"
bundle="$out/tollhouse-receipts.jsonl"
echo "bundle-dir=$out" >> "$GITHUB_OUTPUT"

if ! command -v tollhouse > /dev/null; then
  echo "::error title=tollhouse::tollhouse is not on PATH: did the setup step run?"
  exit 2
fi
args=(ci --out "$bundle" --json "$out/tollhouse-ci.json" --fail-on "${INPUT_FAIL_ON:-denied,needs_approval,error}")
if [ -n "${INPUT_PUBLIC_KEY:-}" ]; then
  args+=(--public-key "$INPUT_PUBLIC_KEY")
fi
tollhouse "${args[@]}"
code=$?
case $code in
  0) ;;
  8) echo "::error title=tollhouse::the receipts failed verification; the bundle is uploaded for inspection" ;;
  3|4|1|10) echo "::error title=tollhouse::calls matched fail-on (${INPUT_FAIL_ON:-denied,needs_approval,error}); see the summary" ;;
  *) echo "::error title=tollhouse::tollhouse ci exited $code" ;;
esac
exit $code
