// placeholder replaced below
let requestSchemaBytes = PackageResources.request_schema_json
