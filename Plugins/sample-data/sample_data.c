/* dev.patchbay.sample-data — generates a deterministic table of N rows × 5 string columns.
 *
 * Parameters: {"rows": 1000, "table": "in.sample", "seed": 1}
 * Useful for demos, tests and as the records-per-second benchmark: every row
 * crosses the ABI through write_records in batches of 1,024.
 *
 * Built with: cc -shared -fPIC -O2 -I../../SDK/include sample_data.c -o libsample_data.so
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "patchbay/connector.h"
#include "patchbay/params.h"

static const patchbay_host *host;
enum { BATCH = 1024, WIDTH = 5 };

static patchbay_status run(patchbay_task *task, patchbay_error *error) {
    char text[64], table[256];
    patchbay_str params = host->parameters(task);
    long long rows = 1000, seed = 1;
    if (patchbay_params_integer(params, "rows", &rows) < 0 || patchbay_params_integer(params, "seed", &seed) < 0) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr("parameters 'rows' and 'seed' must be whole numbers"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    int found = patchbay_params_get(params, "table", table, sizeof table);
    if (found == PATCHBAY_PARAM_ABSENT) strcpy(table, "in.sample");
    else if (found != PATCHBAY_PARAM_FOUND) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr("parameter 'table' must be a table name (bucket.table)"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    if (rows < 0) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr("parameter 'rows' must be 0 or more"), patchbay_cstr(""));
        return PATCHBAY_ERROR;
    }
    static const char *const names[WIDTH] = { "id", "customer", "country", "amount", "created_at" };
    static const char *const countries[] = { "CZ", "DE", "US", "JP", "BR", "IN", "FR", "GB" };
    patchbay_str columns[WIDTH];
    for (int i = 0; i < WIDTH; i++) columns[i] = patchbay_cstr(names[i]);
    patchbay_table_writer *writer = NULL;
    patchbay_status s = host->open_output(task, patchbay_cstr(table), columns, WIDTH, &writer);
    if (s != PATCHBAY_OK) {
        host->set_error(error, PATCHBAY_FAILURE_CONFIG, patchbay_cstr("cannot open the output table"), patchbay_cstr(table));
        return PATCHBAY_ERROR;
    }
    static char storage[BATCH][WIDTH][32];
    static patchbay_str values[BATCH * WIDTH];
    unsigned long long state = (unsigned long long)seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (long long done = 0; done < rows;) {
        int n = rows - done < BATCH ? (int)(rows - done) : BATCH;
        for (int r = 0; r < n; r++) {
            long long id = done + r + 1;
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            unsigned long long x = state >> 33;
            int len[WIDTH];
            len[0] = snprintf(storage[r][0], 32, "%lld", id);
            len[1] = snprintf(storage[r][1], 32, "customer-%llu", x % 100000);
            len[2] = snprintf(storage[r][2], 32, "%s", countries[x % 8]);
            len[3] = snprintf(storage[r][3], 32, "%llu.%02llu", (x >> 8) % 10000, x % 100);
            len[4] = snprintf(storage[r][4], 32, "2026-%02llu-%02lluT%02llu:00:00Z", 1 + x % 12, 1 + (x >> 4) % 28, (x >> 9) % 24);
            for (int c = 0; c < WIDTH; c++) { values[r * WIDTH + c].data = storage[r][c]; values[r * WIDTH + c].length = (size_t)len[c]; }
        }
        if ((s = host->write_records(writer, values, (size_t)n)) != PATCHBAY_OK) {
            host->set_error(error, PATCHBAY_FAILURE_SYSTEM, patchbay_cstr("write_records failed"), patchbay_cstr(""));
            return PATCHBAY_ERROR;
        }
        done += n;
        host->progress(task, rows ? (double)done / (double)rows : 1.0, patchbay_cstr(""));
        if (host->is_cancelled(task)) return PATCHBAY_CANCELLED;
    }
    snprintf(text, sizeof text, "generated %lld rows", rows);
    host->log(task, PATCHBAY_LOG_INFO, patchbay_cstr(text));
    snprintf(text, sizeof text, "%lld", rows);
    host->set_output(task, patchbay_cstr("row_count"), patchbay_cstr(text), 0);
    return PATCHBAY_OK;
}

static const patchbay_connector descriptor = {
    .struct_size = sizeof(patchbay_connector),
    .abi_version = PATCHBAY_ABI_VERSION,
    .id = "dev.patchbay.sample-data",
    .version = "1.0.0",
    .display_name = "Sample data generator",
    .description = "Generates a deterministic table of orders: id, customer, country, amount, created_at.",
    .parameters_schema =
        "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
        "\"rows\":{\"type\":\"integer\",\"minimum\":0,\"default\":1000},"
        "\"table\":{\"type\":\"string\",\"default\":\"in.sample\"},"
        "\"seed\":{\"type\":\"integer\",\"default\":1}}}",
    .pattern = PATCHBAY_PATTERN_EXTRACTION,
    .capabilities = PATCHBAY_CAP_WRITES_TABLES,
    .run = run,
    .declares = PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    .output_names = (const char *const[]){ "row_count" },
    .output_count = 1,
    .output_tables = (const char *const[]){ "{table}" },
    .output_table_count = 1,
};

uint32_t patchbay_abi_version(void) { return PATCHBAY_ABI_VERSION; }

const patchbay_connector *patchbay_connector_entry(const patchbay_host *h) {
    host = h;
    return &descriptor;
}
