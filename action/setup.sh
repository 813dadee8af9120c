#!/usr/bin/env bash
# The tollhouse action's setup: install tollhouse, trust the committed policy, keep the signing key
# outside the workspace, write the MCP config for the agent's client. Inputs arrive as INPUT_*
# environment variables, never spliced into this script's text (a policy path or a key cannot become
# shell code). Variables for later steps go to $GITHUB_ENV / $GITHUB_PATH, outputs to $GITHUB_OUTPUT.
set -euo pipefail

: "${RUNNER_TEMP:?not running as a GitHub Actions step (RUNNER_TEMP unset)}"
: "${GITHUB_ENV:?}" "${GITHUB_PATH:?}" "${GITHUB_OUTPUT:?}"

fail() { echo "::error title=tollhouse::$1"; exit "${2:-2}"; }
set_env() {
  # A line break in a value would add variables of its own to $GITHUB_ENV: refuse it.
  case "$2" in *$'\n'* | *$'\r'*) fail "$1 would contain a line break: $(printf %q "$2")" ;; esac
  echo "$1=$2" >> "$GITHUB_ENV"
  export "$1=$2"
}

cd "${INPUT_WORKING_DIRECTORY:-.}" || fail "working-directory ${INPUT_WORKING_DIRECTORY:-.} does not exist"
state="$RUNNER_TEMP/tollhouse"
mkdir -p "$state" && chmod 700 "$state"

# The operator's folder (trust records, keys, witness copies) outside the workspace the agent edits.
set_env TOLLHOUSE_HOME "$state/home"

# 1. Install: from the action's own checkout (the same commit as this script), a pip spec, or none.
install="${INPUT_INSTALL:-action}"
if [ "$install" != "none" ]; then
  [ "$install" = "action" ] && install="${GITHUB_ACTION_PATH:?}"
  python3 -m venv "$state/venv"
  "$state/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$install"
  echo "$state/venv/bin" >> "$GITHUB_PATH"
  export PATH="$state/venv/bin:$PATH"
fi
command -v tollhouse > /dev/null || fail "tollhouse is not on PATH (install: none needs it preinstalled)"

# 2. Trust the committed policy without a prompt: exactly the expected hash when one is given.
policy="${INPUT_POLICY:-tollhouse.toml}"
[ -f "$policy" ] || fail "policy $policy not found in $(pwd); commit a tollhouse.toml (tollhouse init --profile ci)"
set_env TOLLHOUSE_CONFIG "$(realpath "$policy")"
if [ -n "${INPUT_POLICY_SHA256:-}" ]; then
  tollhouse policy trust --expect "$INPUT_POLICY_SHA256" || fail "the committed policy is not the expected one" 9
else
  tollhouse policy trust
fi
tollhouse policy check  # warnings are printed; only errors fail (exit 2)

# 3. The signing key from a secret, as a 0600 file outside the workspace (not an environment value a
#    command run by the agent would inherit). Without one, a fresh key per job signs the receipts.
if [ -n "${INPUT_SIGNING_KEY:-}" ]; then
  (umask 077 && printf '%s\n' "$INPUT_SIGNING_KEY" > "$state/signing.key")
  set_env TOLLHOUSE_SIGNING_KEY_FILE "$state/signing.key"
fi

# 4. The MCP config the agent's client reads: it starts `tollhouse serve` over stdio.
if [ -n "${INPUT_CLIENT:-}" ]; then
  mcp="$state/mcp-${INPUT_CLIENT//[^a-z-]/}.json"
  tollhouse install "$INPUT_CLIENT" --print > "$mcp"
  set_env TOLLHOUSE_MCP_CONFIG "$mcp"
  echo "mcp-config=$mcp" >> "$GITHUB_OUTPUT"
  echo "MCP config for $INPUT_CLIENT: $mcp"
fi
