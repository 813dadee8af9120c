// The TypeScript MCP SDK's own OAuth client (the way Claude Code and VS Code connect), for tests:
//
//   node sdk_client.mjs MCP_URL TOOL ARGS_JSON
//
// It connects to MCP_URL, meets the 401, discovers the authorization server from the protected
// resource metadata and starts authorization code + PKCE as the pre-registered public client
// `user-app`: it prints `authorize <URL>` and waits for the authorization code on stdin (the test
// plays the person in the browser). Then it finishes the flow, reconnects, calls TOOL and prints
// `result <JSON>`.
import readline from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, tool, argsJson] = process.argv.slice(2);
const REDIRECT = 'http://127.0.0.1/callback';
let tokens;
let verifier;
const authProvider = {
  get redirectUrl() { return REDIRECT; },
  get clientMetadata() {
    return {
      client_name: 'tollhouse sdk test', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    };
  },
  clientInformation() { return { client_id: 'user-app' }; },
  tokens() { return tokens; },
  saveTokens(t) { tokens = t; },
  redirectToAuthorization(authorizationUrl) { process.stdout.write(`authorize ${authorizationUrl}\n`); },
  saveCodeVerifier(v) { verifier = v; },
  codeVerifier() { return verifier; },
};

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function connect() {
  const client = new Client({ name: 'ts-sdk-oauth', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider });
  try {
    await client.connect(transport);
    return client;
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
  }
  const { value } = await lines.next();
  await transport.finishAuth(String(value).trim());
  const again = new Client({ name: 'ts-sdk-oauth', version: '1.0.0' });
  await again.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider }));
  return again;
}

try {
  const client = await connect();
  const result = await client.callTool({ name: tool, arguments: JSON.parse(argsJson) });
  process.stdout.write(`result ${JSON.stringify(result)}\n`);
  await client.close();
  process.exit(0);
} catch (err) {
  process.stdout.write(`error ${err && err.stack || err}\n`);
  process.exit(1);
}
