//! Bindings to SDK/include/patchbay/connector.h (ABI 1.1), written by hand so the
//! template needs no crate. Field order and types must match the header exactly.
#![allow(non_camel_case_types, dead_code)]
use std::os::raw::{c_char, c_int};

pub const PATCHBAY_ABI_VERSION: u32 = 0x0001_0001;
pub const PATCHBAY_OK: u32 = 0;
pub const PATCHBAY_ERROR: u32 = 1;
pub const PATCHBAY_CANCELLED: u32 = 5;
pub const PATCHBAY_FAILURE_CONFIG: u32 = 1;
pub const PATCHBAY_FAILURE_TRANSIENT: u32 = 2;
pub const PATCHBAY_FAILURE_SYSTEM: u32 = 3;
pub const PATCHBAY_PATTERN_EXTRACTION: u32 = 4;
pub const PATCHBAY_LOG_INFO: u32 = 2;
pub const PATCHBAY_CAP_WRITES_TABLES: u64 = 1 << 1;
pub const PATCHBAY_NETWORK_NONE: u32 = 0;
pub const PATCHBAY_NETWORK_TCP_PORTS: u32 = 1;
pub const PATCHBAY_NETWORK_ANY: u32 = 2;

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
}

// The descriptor is a static, immutable value shared with the host: safe to share between threads.
unsafe impl Sync for patchbay_connector {}
