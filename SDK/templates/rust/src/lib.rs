//! A Patchbay connector in Rust.
//! Try: patchbay task run target/release/libmy_connector.so --param greeting=hello --param count=3
mod patchbay;
use patchbay::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

/// The host's callback table, kept from the entry call; valid for the life of the process.
static HOST: AtomicPtr<patchbay_host> = AtomicPtr::new(std::ptr::null_mut());

fn host() -> &'static patchbay_host {
    unsafe { &*HOST.load(Ordering::Acquire) }
}

/// A failure with its class and a message for the user.
struct Failure(u32, String);

fn run_connector(task: *mut patchbay_task) -> Result<(), Failure> {
    let h = host();
    let params = unsafe { (h.parameters)(task).to_string() };
    let greeting = field(&params, "greeting").unwrap_or_else(|| "hello".to_string());
    let count: u64 = field(&params, "count").unwrap_or_else(|| "1".into()).parse()
        .map_err(|_| Failure(PATCHBAY_FAILURE_CONFIG, "parameter 'count' must be a whole number".into()))?;
    let columns = [patchbay_str::from("n"), patchbay_str::from("greeting")];
    let mut writer = std::ptr::null_mut();
    if (h.open_output)(task, patchbay_str::from("out.greetings"), columns.as_ptr(), 2, &mut writer) != PATCHBAY_OK {
        return Err(Failure(PATCHBAY_FAILURE_SYSTEM, "cannot open the output table".into()));
    }
    for n in 1..=count {
        let number = n.to_string();
        let row = [patchbay_str::from(&number), patchbay_str::from(&greeting)];  // copied by the host
        if (h.write_records)(writer, row.as_ptr(), 1) != PATCHBAY_OK {
            return Err(Failure(PATCHBAY_FAILURE_SYSTEM, "write_records failed".into()));
        }
    }
    (h.log)(task, PATCHBAY_LOG_INFO, patchbay_str::from("greetings written"));
    Ok(())
}

/// Reads "key": value from a flat JSON object (enough for a template; use serde_json in a real one).
fn field(json: &str, key: &str) -> Option<String> {
    let start = json.find(&format!("\"{}\":", key))? + key.len() + 3;
    let rest = json[start..].trim_start();
    if let Some(quoted) = rest.strip_prefix('"') {
        Some(quoted[..quoted.find('"')?].to_string())
    } else {
        Some(rest[..rest.find(|c| c == ',' || c == '}')?].trim().to_string())
    }
}

/// Nothing unwinds into C: a panic becomes a system error.
extern "C" fn run(task: *mut patchbay_task, error: *mut patchbay_error) -> u32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| run_connector(task)))
        .unwrap_or_else(|_| Err(Failure(PATCHBAY_FAILURE_SYSTEM, "the connector panicked".into())));
    match outcome {
        Ok(()) => PATCHBAY_OK,
        Err(Failure(class, message)) => {
            (host().set_error)(error, class, patchbay_str::from(&message), patchbay_str::from(""));
            PATCHBAY_ERROR
        }
    }
}

static DESCRIPTOR: patchbay_connector = patchbay_connector {
    struct_size: std::mem::size_of::<patchbay_connector>() as u32,
    abi_version: PATCHBAY_ABI_VERSION,
    id: c"com.example.my-rust-connector".as_ptr(),
    version: c"0.1.0".as_ptr(),
    display_name: c"My connector (Rust)".as_ptr(),
    description: c"Writes a greeting N times into out.greetings.".as_ptr(),
    parameters_schema: c"{\"type\":\"object\",\"properties\":{\"greeting\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\",\"minimum\":0}}}".as_ptr(),
    credential_names: std::ptr::null(),
    credential_count: 0,
    pattern: PATCHBAY_PATTERN_EXTRACTION,
    reserved: 0,
    capabilities: PATCHBAY_CAP_WRITES_TABLES,
    check: None,
    run: Some(run),
    cancel: None,
    // No network: the sandbox gives this connector local sockets only.
    network: PATCHBAY_NETWORK_NONE,
    tcp_port_count: 0,
    tcp_ports: std::ptr::null(),
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
