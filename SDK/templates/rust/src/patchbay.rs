//! Bindings to SDK/include/patchbay/connector.h (ABI 1.3), written by hand so the
//! template needs no crate: every constant, both structs and every callback. Field order and types
//! match the header exactly; the compiler checks the sizes below, TemplateTests the names and values.
#![allow(non_camel_case_types, dead_code)]
use std::os::raw::{c_char, c_int};

// Every constant of the header, by the header's own names and values (TemplateTests checks each one
// against what a C compiler makes of the header).
pub const PATCHBAY_ABI_MAJOR: u32 = 1;
pub const PATCHBAY_ABI_MINOR: u32 = 5;
pub const PATCHBAY_ABI_VERSION: u32 = (PATCHBAY_ABI_MAJOR << 16) | PATCHBAY_ABI_MINOR;

// patchbay_status: what every host call, check() and run() return.
pub const PATCHBAY_OK: u32 = 0;
pub const PATCHBAY_ERROR: u32 = 1;
pub const PATCHBAY_NOT_FOUND: u32 = 2;
pub const PATCHBAY_DENIED: u32 = 3;
pub const PATCHBAY_INVALID_ARGUMENT: u32 = 4;
pub const PATCHBAY_CANCELLED: u32 = 5;
pub const PATCHBAY_END: u32 = 6;
pub const PATCHBAY_IO: u32 = 7;
pub const PATCHBAY_PENDING: u32 = 8;

// Failure classes for set_error().
pub const PATCHBAY_FAILURE_CONFIG: u32 = 1;
pub const PATCHBAY_FAILURE_TRANSIENT: u32 = 2;
pub const PATCHBAY_FAILURE_SYSTEM: u32 = 3;
pub const PATCHBAY_FAILURE_DATA: u32 = 4;  // 1.2
pub const PATCHBAY_FAILURE_UNAUTHORIZED: u32 = 5;  // 1.4: credentials refused; the host authenticates again once

// Job patterns.
pub const PATCHBAY_PATTERN_AUTHENTICATION: u32 = 1;
pub const PATCHBAY_PATTERN_INITIATION: u32 = 2;
pub const PATCHBAY_PATTERN_STATUS_CHECK: u32 = 3;
pub const PATCHBAY_PATTERN_EXTRACTION: u32 = 4;
pub const PATCHBAY_PATTERN_PREPARATION: u32 = 5;
pub const PATCHBAY_PATTERN_EGRESSION: u32 = 6;
pub const PATCHBAY_PATTERN_VALIDATION: u32 = 7;

// Log levels.
pub const PATCHBAY_LOG_DEBUG: u32 = 1;
pub const PATCHBAY_LOG_INFO: u32 = 2;
pub const PATCHBAY_LOG_WARNING: u32 = 3;
pub const PATCHBAY_LOG_ERROR: u32 = 4;

// Capabilities (descriptor bits).
pub const PATCHBAY_CAP_READS_TABLES: u64 = 1 << 0;
pub const PATCHBAY_CAP_WRITES_TABLES: u64 = 1 << 1;
pub const PATCHBAY_CAP_STATE: u64 = 1 << 2;
pub const PATCHBAY_CAP_CANCEL: u64 = 1 << 3;
pub const PATCHBAY_CAP_CHECKPOINTS: u64 = 1 << 4;  // 1.5: each state_set() in run() is a checkpoint

// set_output() flags.
pub const PATCHBAY_OUTPUT_SECRET: u32 = 1 << 0;

// The network a connector declares (ABI 1.1).
pub const PATCHBAY_NETWORK_NONE: u32 = 0;
pub const PATCHBAY_NETWORK_TCP_PORTS: u32 = 1;
pub const PATCHBAY_NETWORK_ANY: u32 = 2;

// Column types (ABI 1.3): every value crosses as text in its type's one form; any may be NULL.
pub const PATCHBAY_TYPE_STRING: u32 = 1;
pub const PATCHBAY_TYPE_INTEGER: u32 = 2;
pub const PATCHBAY_TYPE_DECIMAL: u32 = 3;
pub const PATCHBAY_TYPE_FLOAT: u32 = 4;
pub const PATCHBAY_TYPE_BOOLEAN: u32 = 5;
pub const PATCHBAY_TYPE_DATE: u32 = 6;
pub const PATCHBAY_TYPE_TIMESTAMP: u32 = 7;
pub const PATCHBAY_TYPE_JSON: u32 = 8;

// What the descriptor declares (ABI 1.4): the outputs it sets, the tables it writes.
pub const PATCHBAY_DECLARES_OUTPUTS: u32 = 1 << 0;
pub const PATCHBAY_DECLARES_TABLES: u32 = 1 << 1;

// Struct sizes the header publishes; the layout assertions at the end of this file hold the structs to them.
pub const PATCHBAY_HOST_SIZE_1_0: usize = 144;
pub const PATCHBAY_HOST_SIZE_1_3: usize = 176;
pub const PATCHBAY_HOST_SIZE_1_4: usize = 184;
pub const PATCHBAY_CONNECTOR_SIZE_1_0: usize = 104;
pub const PATCHBAY_CONNECTOR_SIZE_1_1: usize = 120;
pub const PATCHBAY_CONNECTOR_SIZE_1_4: usize = 152;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct patchbay_str {
    pub data: *const c_char,
    pub length: usize,
}

impl patchbay_str {
    /// Borrows `text` for the duration of one host call (the host copies it).
    pub fn from(text: &str) -> Self {
        patchbay_str { data: text.as_ptr() as *const c_char, length: text.len() }
    }
    /// Copies the bytes into a String.
    pub unsafe fn to_string(&self) -> String {
        if self.length == 0 || self.data.is_null() {
            return String::new();
        }
        let bytes = std::slice::from_raw_parts(self.data as *const u8, self.length);
        String::from_utf8_lossy(bytes).into_owned()
    }
}

#[repr(C)] pub struct patchbay_task { _opaque: [u8; 0] }
#[repr(C)] pub struct patchbay_error { _opaque: [u8; 0] }
#[repr(C)] pub struct patchbay_table_reader { _opaque: [u8; 0] }
#[repr(C)] pub struct patchbay_table_writer { _opaque: [u8; 0] }

type Task = *mut patchbay_task;

#[repr(C)]
pub struct patchbay_host {
    pub struct_size: u32,
    pub abi_version: u32,
    pub log: extern "C" fn(Task, u32, patchbay_str),
    pub parameters: extern "C" fn(Task) -> patchbay_str,
    pub credential: extern "C" fn(Task, patchbay_str, *mut patchbay_str) -> u32,
    pub open_input: extern "C" fn(Task, patchbay_str, *mut *mut patchbay_table_reader) -> u32,
    pub input_columns: extern "C" fn(*mut patchbay_table_reader, *mut *const patchbay_str, *mut usize) -> u32,
    pub read_records: extern "C" fn(*mut patchbay_table_reader, *mut *const patchbay_str, *mut usize) -> u32,
    pub close_input: extern "C" fn(*mut patchbay_table_reader),
    pub open_output: extern "C" fn(Task, patchbay_str, *const patchbay_str, usize, *mut *mut patchbay_table_writer) -> u32,
    pub write_records: extern "C" fn(*mut patchbay_table_writer, *const patchbay_str, usize) -> u32,
    pub close_output: extern "C" fn(*mut patchbay_table_writer) -> u32,
    pub state_get: extern "C" fn(Task, *mut patchbay_str) -> u32,
    pub state_set: extern "C" fn(Task, patchbay_str) -> u32,
    pub set_output: extern "C" fn(Task, patchbay_str, patchbay_str, u32) -> u32,
    pub progress: extern "C" fn(Task, f64, patchbay_str),
    pub is_cancelled: extern "C" fn(Task) -> c_int,
    pub remaining_ms: extern "C" fn(Task) -> i64,
    pub set_error: extern "C" fn(*mut patchbay_error, u32, patchbay_str, patchbay_str),
    // ABI 1.3: call these only when the host's struct_size is at least PATCHBAY_HOST_SIZE_1_3.
    pub open_output_typed: extern "C" fn(Task, patchbay_str, *const patchbay_str, *const u32, usize, *mut *mut patchbay_table_writer) -> u32,
    pub write_records_nullable: extern "C" fn(*mut patchbay_table_writer, *const patchbay_str, *const u8, usize) -> u32,
    pub read_records_nullable: extern "C" fn(*mut patchbay_table_reader, *mut *const patchbay_str, *mut *const u8, *mut usize) -> u32,
    pub input_column_types: extern "C" fn(*mut patchbay_table_reader, *mut *const u32, *mut usize) -> u32,
    // ABI 1.4: only when the host's struct_size is at least PATCHBAY_HOST_SIZE_1_4.
    pub rate_limit: extern "C" fn(Task, patchbay_str, u32, *mut u64) -> u32,
}

pub type ConnectorFn = extern "C" fn(Task, *mut patchbay_error) -> u32;

#[repr(C)]
pub struct patchbay_connector {
    pub struct_size: u32,
    pub abi_version: u32,
    pub id: *const c_char,
    pub version: *const c_char,
    pub display_name: *const c_char,
    pub description: *const c_char,
    pub parameters_schema: *const c_char,
    pub credential_names: *const *const c_char,
    pub credential_count: usize,
    pub pattern: u32,
    pub reserved: u32,
    pub capabilities: u64,
    pub check: Option<ConnectorFn>,
    pub run: Option<ConnectorFn>,
    pub cancel: Option<extern "C" fn(Task)>,
    // ABI 1.1
    pub network: u32,
    pub tcp_port_count: u32,
    pub tcp_ports: *const u16,
    // ABI 1.4
    pub declares: u32,
    pub output_count: u32,
    pub output_names: *const *const c_char,
    pub output_table_count: u32,
    pub reserved_1_4: u32,
    pub output_tables: *const *const c_char,
}

// The descriptor is a static, immutable value shared with the host: safe to share between threads.
unsafe impl Sync for patchbay_connector {}

// The layout, checked when the crate compiles: a field out of place fails the build, not a task.
const _: () = assert!(std::mem::size_of::<patchbay_connector>() == PATCHBAY_CONNECTOR_SIZE_1_4);
const _: () = assert!(std::mem::offset_of!(patchbay_connector, tcp_ports) + 8 == PATCHBAY_CONNECTOR_SIZE_1_1);
const _: () = assert!(std::mem::offset_of!(patchbay_connector, cancel) + 8 == PATCHBAY_CONNECTOR_SIZE_1_0);
const _: () = assert!(std::mem::offset_of!(patchbay_host, set_error) + 8 == PATCHBAY_HOST_SIZE_1_0);
const _: () = assert!(std::mem::size_of::<patchbay_host>() == PATCHBAY_HOST_SIZE_1_4);
const _: () = assert!(std::mem::offset_of!(patchbay_host, input_column_types) + 8 == PATCHBAY_HOST_SIZE_1_3);
const _: () = assert!(std::mem::size_of::<patchbay_str>() == 16);

#[cfg(test)]
mod tests {
    use super::*;

    /// Every constant by name, for the check against the header.
    const ALL: &[(&str, u64)] = &[
        ("PATCHBAY_ABI_MAJOR", PATCHBAY_ABI_MAJOR as u64),
        ("PATCHBAY_ABI_MINOR", PATCHBAY_ABI_MINOR as u64),
        ("PATCHBAY_ABI_VERSION", PATCHBAY_ABI_VERSION as u64),
        ("PATCHBAY_OK", PATCHBAY_OK as u64),
        ("PATCHBAY_ERROR", PATCHBAY_ERROR as u64),
        ("PATCHBAY_NOT_FOUND", PATCHBAY_NOT_FOUND as u64),
        ("PATCHBAY_DENIED", PATCHBAY_DENIED as u64),
        ("PATCHBAY_INVALID_ARGUMENT", PATCHBAY_INVALID_ARGUMENT as u64),
        ("PATCHBAY_CANCELLED", PATCHBAY_CANCELLED as u64),
        ("PATCHBAY_END", PATCHBAY_END as u64),
        ("PATCHBAY_IO", PATCHBAY_IO as u64),
        ("PATCHBAY_PENDING", PATCHBAY_PENDING as u64),
        ("PATCHBAY_FAILURE_CONFIG", PATCHBAY_FAILURE_CONFIG as u64),
        ("PATCHBAY_FAILURE_TRANSIENT", PATCHBAY_FAILURE_TRANSIENT as u64),
        ("PATCHBAY_FAILURE_SYSTEM", PATCHBAY_FAILURE_SYSTEM as u64),
        ("PATCHBAY_FAILURE_DATA", PATCHBAY_FAILURE_DATA as u64),
        ("PATCHBAY_FAILURE_UNAUTHORIZED", PATCHBAY_FAILURE_UNAUTHORIZED as u64),
        ("PATCHBAY_PATTERN_AUTHENTICATION", PATCHBAY_PATTERN_AUTHENTICATION as u64),
        ("PATCHBAY_PATTERN_INITIATION", PATCHBAY_PATTERN_INITIATION as u64),
        ("PATCHBAY_PATTERN_STATUS_CHECK", PATCHBAY_PATTERN_STATUS_CHECK as u64),
        ("PATCHBAY_PATTERN_EXTRACTION", PATCHBAY_PATTERN_EXTRACTION as u64),
        ("PATCHBAY_PATTERN_PREPARATION", PATCHBAY_PATTERN_PREPARATION as u64),
        ("PATCHBAY_PATTERN_EGRESSION", PATCHBAY_PATTERN_EGRESSION as u64),
        ("PATCHBAY_PATTERN_VALIDATION", PATCHBAY_PATTERN_VALIDATION as u64),
        ("PATCHBAY_LOG_DEBUG", PATCHBAY_LOG_DEBUG as u64),
        ("PATCHBAY_LOG_INFO", PATCHBAY_LOG_INFO as u64),
        ("PATCHBAY_LOG_WARNING", PATCHBAY_LOG_WARNING as u64),
        ("PATCHBAY_LOG_ERROR", PATCHBAY_LOG_ERROR as u64),
        ("PATCHBAY_CAP_READS_TABLES", PATCHBAY_CAP_READS_TABLES as u64),
        ("PATCHBAY_CAP_WRITES_TABLES", PATCHBAY_CAP_WRITES_TABLES as u64),
        ("PATCHBAY_CAP_STATE", PATCHBAY_CAP_STATE as u64),
        ("PATCHBAY_CAP_CANCEL", PATCHBAY_CAP_CANCEL as u64),
        ("PATCHBAY_CAP_CHECKPOINTS", PATCHBAY_CAP_CHECKPOINTS as u64),
        ("PATCHBAY_OUTPUT_SECRET", PATCHBAY_OUTPUT_SECRET as u64),
        ("PATCHBAY_NETWORK_NONE", PATCHBAY_NETWORK_NONE as u64),
        ("PATCHBAY_NETWORK_TCP_PORTS", PATCHBAY_NETWORK_TCP_PORTS as u64),
        ("PATCHBAY_NETWORK_ANY", PATCHBAY_NETWORK_ANY as u64),
        ("PATCHBAY_HOST_SIZE_1_0", PATCHBAY_HOST_SIZE_1_0 as u64),
        ("PATCHBAY_CONNECTOR_SIZE_1_0", PATCHBAY_CONNECTOR_SIZE_1_0 as u64),
        ("PATCHBAY_CONNECTOR_SIZE_1_1", PATCHBAY_CONNECTOR_SIZE_1_1 as u64),
        ("PATCHBAY_CONNECTOR_SIZE_1_4", PATCHBAY_CONNECTOR_SIZE_1_4 as u64),
        ("PATCHBAY_DECLARES_OUTPUTS", PATCHBAY_DECLARES_OUTPUTS as u64),
        ("PATCHBAY_DECLARES_TABLES", PATCHBAY_DECLARES_TABLES as u64),
        ("PATCHBAY_HOST_SIZE_1_3", PATCHBAY_HOST_SIZE_1_3 as u64),
        ("PATCHBAY_HOST_SIZE_1_4", PATCHBAY_HOST_SIZE_1_4 as u64),
        ("PATCHBAY_TYPE_STRING", PATCHBAY_TYPE_STRING as u64),
        ("PATCHBAY_TYPE_INTEGER", PATCHBAY_TYPE_INTEGER as u64),
        ("PATCHBAY_TYPE_DECIMAL", PATCHBAY_TYPE_DECIMAL as u64),
        ("PATCHBAY_TYPE_FLOAT", PATCHBAY_TYPE_FLOAT as u64),
        ("PATCHBAY_TYPE_BOOLEAN", PATCHBAY_TYPE_BOOLEAN as u64),
        ("PATCHBAY_TYPE_DATE", PATCHBAY_TYPE_DATE as u64),
        ("PATCHBAY_TYPE_TIMESTAMP", PATCHBAY_TYPE_TIMESTAMP as u64),
        ("PATCHBAY_TYPE_JSON", PATCHBAY_TYPE_JSON as u64),
    ];

    /// With PATCHBAY_HEADER_CONSTANTS naming a file of "NAME VALUE" lines (what a C compiler makes of the
    /// header; the test suite writes it), every constant of the header is here, with the same value.
    #[test]
    fn every_constant_of_the_header() {
        let Ok(path) = std::env::var("PATCHBAY_HEADER_CONSTANTS") else { return };
        let text = std::fs::read_to_string(&path).expect("the constants file");
        for line in text.lines() {
            let (name, value) = line.split_once(' ').expect("NAME VALUE");
            let value: u64 = value.parse().expect("a number");
            let ours = ALL.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
            assert_eq!(ours, Some(value), "{} in src/patchbay.rs", name);
        }
    }
}
