//! test.rust-panic — panics in run(): with {"mode": "caught"} inside catch_unwind, as the template does
//! (a system error that quotes the panic), with {"mode": "uncaught"} in the extern "C" function itself,
//! which Rust turns into an abort (a crash whose summary must be the panic's message).
#[path = "../../../../../SDK/templates/rust/src/patchbay.rs"]
#[allow(dead_code)]
mod patchbay;
#[path = "../../../../../SDK/templates/rust/src/params.rs"]
#[allow(dead_code)]
mod params;
use patchbay::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

static HOST: AtomicPtr<patchbay_host> = AtomicPtr::new(std::ptr::null_mut());

fn host() -> &'static patchbay_host {
    unsafe { &*HOST.load(Ordering::Acquire) }
}

fn explode(rows: &[u32]) -> u32 {
    rows[rows.len() + 2]
}

extern "C" fn run(task: *mut patchbay_task, error: *mut patchbay_error) -> u32 {
    let parameters = unsafe { (host().parameters)(task).to_string() };
    if params::param(&parameters, "mode") == params::Param::Found("uncaught".into()) {
        return explode(&[]);
    }
    match catch_unwind(AssertUnwindSafe(|| explode(&[]))) {
        Ok(_) => PATCHBAY_OK,
        Err(payload) => {
            let message = payload.downcast_ref::<String>().cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let text = format!("the connector panicked: {}", message);
            (host().set_error)(error, PATCHBAY_FAILURE_SYSTEM, patchbay_str::from(&text), patchbay_str::from(""));
            PATCHBAY_ERROR
        }
    }
}

static DESCRIPTOR: patchbay_connector = patchbay_connector {
    struct_size: std::mem::size_of::<patchbay_connector>() as u32,
    abi_version: PATCHBAY_ABI_VERSION,
    id: c"test.rust-panic".as_ptr(),
    version: c"1.0.0".as_ptr(),
    display_name: c"Rust panic".as_ptr(),
    description: std::ptr::null(),
    parameters_schema: std::ptr::null(),
    credential_names: std::ptr::null(),
    credential_count: 0,
    pattern: PATCHBAY_PATTERN_EXTRACTION,
    reserved: 0,
    capabilities: 0,
    check: None,
    run: Some(run),
    cancel: None,
    network: PATCHBAY_NETWORK_NONE,
    tcp_port_count: 0,
    tcp_ports: std::ptr::null(),
    declares: 0,
    output_count: 0,
    output_names: std::ptr::null(),
    output_table_count: 0,
    reserved_1_4: 0,
    output_tables: std::ptr::null(),
};

#[no_mangle]
pub extern "C" fn patchbay_abi_version() -> u32 {
    PATCHBAY_ABI_VERSION
}

#[no_mangle]
pub extern "C" fn patchbay_connector_entry(host: *const patchbay_host) -> *const patchbay_connector {
    HOST.store(host as *mut patchbay_host, Ordering::Release);
    &DESCRIPTOR
}
