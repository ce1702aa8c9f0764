'use strict';
// VS Code's `vscode-jsonrpc` driving examples/language_server.rs over stdio,
// as an editor does: initialize, initialized (the server then asks a
// question: window/showMessageRequest, answered here), didOpen, hover,
// didChange, hover, shutdown, exit (code 0).
//
//   node language_server_client.js LANGUAGE_SERVER_BINARY

const { spawn } = require('child_process');
const rpc = require('vscode-jsonrpc/node');
const { check, run, arg } = require('./common');

const binary = arg(0, 'LANGUAGE_SERVER_BINARY');

run(async () => {
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const connection = rpc.createMessageConnection(
    new rpc.StreamMessageReader(child.stdout),
    new rpc.StreamMessageWriter(child.stdin),
  );
  let asked = null;
  connection.onRequest('window/showMessageRequest', (params) => {
    asked = params;
    return { title: 'Yes' };
  });
  connection.listen();

  const init = await connection.sendRequest('initialize', {
    processId: process.pid,
    clientInfo: { name: 'vscode-jsonrpc test', version: '1' },
    rootUri: null,
    capabilities: { textDocument: { hover: { contentFormat: ['markdown'] } } },
    locale: 'en',
    trace: 'off',
  });
  check('initialize: hover provider', init.capabilities.hoverProvider, true);
  check('initialize: full sync', init.capabilities.textDocumentSync, 1);
  check('initialize: server name', init.serverInfo.name, 'word-counter');

  await connection.sendNotification('initialized', {});
  const until = Date.now() + 5000;
  while (asked === null && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
  check('the server asked the editor a question', asked && asked.message, 'Count words on hover?');
  // Let its answer reach the server before hovering.
  await new Promise((r) => setTimeout(r, 100));

  const uri = 'file:///tmp/notes.txt';
  await connection.sendNotification('textDocument/didOpen', {
    textDocument: { uri, languageId: 'plaintext', version: 1, text: 'apple pie\napple tart, pear' },
  });
  const hover = await connection.sendRequest('textDocument/hover', {
    textDocument: { uri },
    position: { line: 1, character: 2 },
  });
  check('hover: the word and its count', hover.contents.value, '`apple`: 2 in this document (counting: Yes)');
  check('hover: the word range', hover.range, { start: { line: 1, character: 0 }, end: { line: 1, character: 5 } });
  check(
    'hover on a space is null',
    await connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: { line: 0, character: 5 } }),
    null,
  );

  await connection.sendNotification('textDocument/didChange', {
    textDocument: { uri, version: 2 },
    contentChanges: [{ text: 'apple apple apple' }],
  });
  const changed = await connection.sendRequest('textDocument/hover', {
    textDocument: { uri },
    position: { line: 0, character: 7 },
  });
  check('hover after a change', changed.contents.value, '`apple`: 3 in this document (counting: Yes)');

  try {
    await connection.sendRequest('textDocument/hover', {
      textDocument: { uri: 'file:///not/open' },
      position: { line: 0, character: 0 },
    });
    check('hover on a closed document fails', 'no error', 'an error');
  } catch (e) {
    check('hover on a closed document: -32602', e.code, -32602);
  }

  check('shutdown answers null', await connection.sendRequest('shutdown'), null);
  await connection.sendNotification('exit');
  const code = await exited;
  check('exit code 0 after shutdown', code, 0);
  // The handler's stray println! went to stderr, not into the stream.
  check('a stray print lands on stderr', stderr.includes('opened file:///tmp/notes.txt'), true);
  connection.dispose();
}, 30000);
