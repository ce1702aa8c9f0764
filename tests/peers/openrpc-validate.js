// Validates an OpenRPC document (a file, or standard input) against the
// official meta-schema (@open-rpc/meta-schema) with ajv. Prints "valid", or
// each error, and exits 0 or 1.
"use strict";
const fs = require("fs");
const Ajv = require("ajv");
const load = (name) => { const m = require(name); return m.default || m; };
const metaSchema = load("@open-rpc/meta-schema");
// The JSON Schema meta-schema the OpenRPC one refers to for every schema.
const jsonSchemaMeta = load("@json-schema-tools/meta-schema");

const text = fs.readFileSync(process.argv[2] || 0, "utf8");
const document = JSON.parse(text);
const schema = { ...metaSchema };
// Its `$schema` names a meta-meta-schema ajv does not carry; the schema
// itself is draft 7.
delete schema.$schema;
const ajv = new Ajv({ strict: false, allErrors: true, logger: false });
// Referred to with and without the trailing slash.
for (const id of ["https://meta.json-schema.tools/", "https://meta.json-schema.tools"]) {
  const inner = { ...jsonSchemaMeta };
  delete inner.$schema;
  delete inner.$id;
  ajv.addSchema(inner, id);
}
const validate = ajv.compile(schema);
if (validate(document)) {
  console.log("valid");
} else {
  for (const error of validate.errors) {
    console.log(`${error.instancePath || "/"} ${error.message} ${JSON.stringify(error.params)}`);
  }
  process.exit(1);
}
