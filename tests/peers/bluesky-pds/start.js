// The Bluesky tier's PDS (see setup.sh): a reference PDS on 127.0.0.1:$PDS_PORT with an
// in-memory PLC directory and one account, $PDS_HANDLE with password $PDS_PASSWORD.
// When the account exists it prints one line, "READY <pds url> <account did>", and then
// serves until SIGTERM or SIGINT. Run it with setup.sh's node, from the folder it installed.
const { TestNetworkNoAppView } = require('@atproto/dev-env');

const port = Number(process.env.PDS_PORT || 2583);
const handle = process.env.PDS_HANDLE || 'koho.test';
const password = process.env.PDS_PASSWORD || 'koho-pass';

async function createAccount(pdsUrl) {
  const response = await fetch(`${pdsUrl}/xrpc/com.atproto.server.createAccount`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ handle, password, email: 'koho@example.com' }),
  });
  const body = await response.json();
  if (!response.ok) {
    throw new Error(`createAccount answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return body.did;
}

async function main() {
  const network = await TestNetworkNoAppView.create({ pds: { port } });
  const did = await createAccount(network.pds.url);
  console.log(`READY ${network.pds.url} ${did}`);
  const stop = async () => {
    await network.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
