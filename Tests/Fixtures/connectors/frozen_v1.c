/* A connector built against the frozen ABI 1.0 header (Tests/Fixtures/abi-v1.0).
 * Every later host must load and run it. */
#include <string.h>
#include "patchbay/connector.h"

static const patchbay_host *host;

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    (void)error;
    patchbay_str name = { "abi", 3 }, value = { "1.0", 3 };
    return host->set_output(task, name, value, 0);
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "test.frozen-v1",
    .version = "1.0.0",
    .display_name = "Built against the frozen v1.0 header",
    .pattern = PATCHBAY_PATTERN_INITIATION,
    .run = run,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }
const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) { host = h; return &descriptor; }
