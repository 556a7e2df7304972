/* Prints the layout of every struct and the value of every constant that ABI v1.0 published, one per
 * line. Compiled once against the frozen v1.0 header and once against the current one: the test
 * compares the two outputs, so a reordered, resized or retyped field, or a changed constant, fails. */
#include <stddef.h>
#include <stdio.h>
#include "patchbay/connector.h"

#define FIELD(type, field) printf(#type "." #field " offset=%zu size=%zu\n", offsetof(type, field), sizeof(((type *)0)->field))
#define CONSTANT(name) printf(#name "=%lld\n", (long long)(name))

int main(void) {
    printf("patchbay_str size=%zu\n", sizeof(patchbay_str));
    FIELD(patchbay_str, data); FIELD(patchbay_str, length);

    FIELD(patchbay_host, struct_size); FIELD(patchbay_host, abi_version); FIELD(patchbay_host, log);
    FIELD(patchbay_host, parameters); FIELD(patchbay_host, credential); FIELD(patchbay_host, open_input);
    FIELD(patchbay_host, input_columns); FIELD(patchbay_host, read_records); FIELD(patchbay_host, close_input);
    FIELD(patchbay_host, open_output); FIELD(patchbay_host, write_records); FIELD(patchbay_host, close_output);
    FIELD(patchbay_host, state_get); FIELD(patchbay_host, state_set); FIELD(patchbay_host, set_output);
    FIELD(patchbay_host, progress); FIELD(patchbay_host, is_cancelled); FIELD(patchbay_host, remaining_ms);
    FIELD(patchbay_host, set_error);

    FIELD(patchbay_connector, struct_size); FIELD(patchbay_connector, abi_version); FIELD(patchbay_connector, id);
    FIELD(patchbay_connector, version); FIELD(patchbay_connector, display_name); FIELD(patchbay_connector, description);
    FIELD(patchbay_connector, parameters_schema); FIELD(patchbay_connector, credential_names);
    FIELD(patchbay_connector, credential_count); FIELD(patchbay_connector, pattern); FIELD(patchbay_connector, reserved);
    FIELD(patchbay_connector, capabilities); FIELD(patchbay_connector, check); FIELD(patchbay_connector, run);
    FIELD(patchbay_connector, cancel);

    printf("sizeof(patchbay_status)=%zu sizeof(patchbay_pattern)=%zu sizeof(patchbay_log_level)=%zu sizeof(patchbay_failure_class)=%zu\n",
           sizeof(patchbay_status), sizeof(patchbay_pattern), sizeof(patchbay_log_level), sizeof(patchbay_failure_class));
    CONSTANT(PATCHBAY_ABI_MAJOR);
    CONSTANT(PATCHBAY_OK); CONSTANT(PATCHBAY_ERROR); CONSTANT(PATCHBAY_NOT_FOUND); CONSTANT(PATCHBAY_DENIED);
    CONSTANT(PATCHBAY_INVALID_ARGUMENT); CONSTANT(PATCHBAY_CANCELLED); CONSTANT(PATCHBAY_END); CONSTANT(PATCHBAY_IO);
    CONSTANT(PATCHBAY_PENDING);
    CONSTANT(PATCHBAY_FAILURE_CONFIG); CONSTANT(PATCHBAY_FAILURE_TRANSIENT); CONSTANT(PATCHBAY_FAILURE_SYSTEM);
    CONSTANT(PATCHBAY_PATTERN_AUTHENTICATION); CONSTANT(PATCHBAY_PATTERN_INITIATION); CONSTANT(PATCHBAY_PATTERN_STATUS_CHECK);
    CONSTANT(PATCHBAY_PATTERN_EXTRACTION); CONSTANT(PATCHBAY_PATTERN_PREPARATION); CONSTANT(PATCHBAY_PATTERN_EGRESSION);
    CONSTANT(PATCHBAY_PATTERN_VALIDATION);
    CONSTANT(PATCHBAY_LOG_DEBUG); CONSTANT(PATCHBAY_LOG_INFO); CONSTANT(PATCHBAY_LOG_WARNING); CONSTANT(PATCHBAY_LOG_ERROR);
    CONSTANT(PATCHBAY_CAP_READS_TABLES); CONSTANT(PATCHBAY_CAP_WRITES_TABLES); CONSTANT(PATCHBAY_CAP_STATE);
    CONSTANT(PATCHBAY_CAP_CANCEL); CONSTANT(PATCHBAY_OUTPUT_SECRET);
#ifdef PATCHBAY_LAYOUT_PUBLISHED_SIZES
    /* Only the current header publishes these: they must equal the v1.0 layout printed above. */
    CONSTANT(PATCHBAY_HOST_SIZE_1_0); CONSTANT(PATCHBAY_CONNECTOR_SIZE_1_0);
#endif
#ifdef PATCHBAY_LAYOUT_V1_1
    /* What 1.1 appended: compared with the frozen 1.1 header. */
    FIELD(patchbay_connector, network); FIELD(patchbay_connector, tcp_port_count); FIELD(patchbay_connector, tcp_ports);
    CONSTANT(PATCHBAY_NETWORK_NONE); CONSTANT(PATCHBAY_NETWORK_TCP_PORTS); CONSTANT(PATCHBAY_NETWORK_ANY);
    CONSTANT(PATCHBAY_CONNECTOR_SIZE_1_1);
#endif
    /* Last, because each minor raises it. */
#ifdef PATCHBAY_LAYOUT_V1_2
    CONSTANT(PATCHBAY_FAILURE_DATA);
#endif
#ifdef PATCHBAY_LAYOUT_V1_3
    FIELD(patchbay_host, open_output_typed); FIELD(patchbay_host, write_records_nullable);
    FIELD(patchbay_host, read_records_nullable); FIELD(patchbay_host, input_column_types);
    printf("sizeof(patchbay_column_type)=%zu\n", sizeof(patchbay_column_type));
    CONSTANT(PATCHBAY_TYPE_STRING); CONSTANT(PATCHBAY_TYPE_INTEGER); CONSTANT(PATCHBAY_TYPE_DECIMAL);
    CONSTANT(PATCHBAY_TYPE_FLOAT); CONSTANT(PATCHBAY_TYPE_BOOLEAN); CONSTANT(PATCHBAY_TYPE_DATE);
    CONSTANT(PATCHBAY_TYPE_TIMESTAMP); CONSTANT(PATCHBAY_TYPE_JSON); CONSTANT(PATCHBAY_HOST_SIZE_1_3);
#endif
#ifdef PATCHBAY_LAYOUT_V1_4
    FIELD(patchbay_connector, declares); FIELD(patchbay_connector, output_count);
    FIELD(patchbay_connector, output_names); FIELD(patchbay_connector, output_table_count);
    FIELD(patchbay_connector, reserved_1_4); FIELD(patchbay_connector, output_tables);
    CONSTANT(PATCHBAY_DECLARES_OUTPUTS); CONSTANT(PATCHBAY_DECLARES_TABLES); CONSTANT(PATCHBAY_CONNECTOR_SIZE_1_4);
    CONSTANT(PATCHBAY_FAILURE_UNAUTHORIZED);
    FIELD(patchbay_host, rate_limit); CONSTANT(PATCHBAY_HOST_SIZE_1_4);
#endif
#ifdef PATCHBAY_LAYOUT_V1_5
    CONSTANT(PATCHBAY_CAP_CHECKPOINTS);
#endif
    CONSTANT(PATCHBAY_ABI_VERSION);
    return 0;
}
