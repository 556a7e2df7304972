/* test.nonconforming — loads and runs, but breaks the rules `patchbay plugins check` holds a connector to:
 * a secret-looking parameter not marked secret, parameters read without checking their types, an output
 * table opened before the parameters are read, a credential asked for that it does not declare, and the
 * state capability declared but no state ever set. */
#include <stdlib.h>
#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    patchbay_str columns[1] = { patchbay_cstr("n") };
    patchbay_table_writer *writer;
    host->open_output(task, patchbay_cstr("out.rows"), columns, 1, &writer);
    patchbay_str value;
    host->credential(task, patchbay_cstr("undeclared_key"), &value);
    char text[32];
    long long rows = patchbay_params_get(host->parameters(task), "rows", text, sizeof text) == PATCHBAY_PARAM_FOUND ? atoll(text) : 1;
    (void)error;
    for (long long i = 0; i < rows; i++) {
        patchbay_str row[1] = { patchbay_cstr("1") };
        host->write_records(writer, row, 1);
    }
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.nonconforming",
    .version = "1.0.0",
    .display_name = "Breaks the conformance rules",
    .parameters_schema = "{\"type\":\"object\",\"properties\":{\"rows\":{\"type\":\"integer\"},\"password\":{\"type\":\"string\"}}}",
    .credential_names = (const char *const[]){ "api_token" },
    .credential_count = 1,
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES | PATCHBAY_CAP_STATE,
    .run = run,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
