//! A Patchbay connector in Rust: an extraction that writes a greeting N times into `out.greetings`.
//! Build: cargo build --release   (no crates: the bindings are src/patchbay.rs, the reader src/params.rs)
//! Try:   patchbay task run target/release/libmy_connector.so --param greeting=hello --param count=3
//! Check: patchbay plugins check target/release/libmy_connector.so
mod params;
mod patchbay;
use params::{param, Param};
use patchbay::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicPtr, Ordering};

/// The host's callback table, kept from the entry call; valid for the life of the process.
static HOST: AtomicPtr<patchbay_host> = AtomicPtr::new(std::ptr::null_mut());

fn host() -> &'static patchbay_host {
    unsafe { &*HOST.load(Ordering::Acquire) }
}

/// A failure with its class (PATCHBAY_FAILURE_*) and a message for the user.
struct Failure(u32, String);

impl Failure {
    fn config(message: impl Into<String>) -> Self {
        Failure(PATCHBAY_FAILURE_CONFIG, message.into())
    }
}

/// A text parameter, or `default` when it is absent.
fn text(params: &str, key: &str, default: &str) -> Result<String, Failure> {
    match param(params, key) {
        Param::Found(value) => Ok(value),
        Param::Absent => Ok(default.to_string()),
        Param::NotScalar => Err(Failure::config(format!("parameter '{}' must be text, not an object or a list", key))),
        Param::Malformed => Err(Failure::config("the parameters are not a JSON object")),
    }
}

/// A whole-number parameter ≥ 0, or `default` when it is absent. (The host has checked the schema
/// before run(); this is what keeps the connector right when it is run some other way.)
fn count(params: &str, key: &str, default: u64) -> Result<u64, Failure> {
    match param(params, key) {
        Param::Absent => Ok(default),
        Param::Found(value) => value.parse().map_err(|_| Failure::config(format!("parameter '{}' must be a whole number ≥ 0, not '{}'", key, value))),
        _ => Err(Failure::config(format!("parameter '{}' must be a whole number ≥ 0", key))),
    }
}

fn run_connector(task: *mut patchbay_task) -> Result<(), Failure> {
    let h = host();
    let params = unsafe { (h.parameters)(task).to_string() };
    let greeting = text(&params, "greeting", "hello")?;
    let count = count(&params, "count", 1)?;
    let columns = [patchbay_str::from("n"), patchbay_str::from("greeting")];
    let mut writer = std::ptr::null_mut();
    match (h.open_output)(task, patchbay_str::from("out.greetings"), columns.as_ptr(), 2, &mut writer) {
        PATCHBAY_OK => {}
        PATCHBAY_DENIED => return Err(Failure::config("the task's token may not write the bucket 'out'")),
        status => return Err(Failure(PATCHBAY_FAILURE_SYSTEM, format!("cannot open the output table (status {})", status))),
    }
    for n in 1..=count {
        if (h.is_cancelled)(task) != 0 {
            return Err(Failure(PATCHBAY_FAILURE_TRANSIENT, "cancelled".into()));
        }
        let number = n.to_string();
        let row = [patchbay_str::from(&number), patchbay_str::from(&greeting)];  // copied by the host
        if (h.write_records)(writer, row.as_ptr(), 1) != PATCHBAY_OK {
            return Err(Failure(PATCHBAY_FAILURE_SYSTEM, "write_records failed".into()));
        }
        (h.progress)(task, n as f64 / count as f64, patchbay_str::from(""));
    }
    (h.log)(task, PATCHBAY_LOG_INFO, patchbay_str::from(&format!("{} greetings written", count)));
    Ok(())
}

/// What a panic said: its message, when it was given one.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Nothing unwinds into C: a panic becomes a system error that quotes it.
extern "C" fn run(task: *mut patchbay_task, error: *mut patchbay_error) -> u32 {
    let outcome = catch_unwind(AssertUnwindSafe(|| run_connector(task)))
        .unwrap_or_else(|payload| Err(Failure(PATCHBAY_FAILURE_SYSTEM, format!("the connector panicked: {}", panic_message(&*payload)))));
    match outcome {
        Ok(()) => PATCHBAY_OK,
        Err(Failure(class, _)) if class == PATCHBAY_FAILURE_TRANSIENT && (host().is_cancelled)(task) != 0 => PATCHBAY_CANCELLED,
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
    parameters_schema: c"{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{\"greeting\":{\"type\":\"string\"},\"count\":{\"type\":\"integer\",\"minimum\":0}}}".as_ptr(),
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
    // Lineage (ABI 1.4): no outputs, and the one table it writes, so `patchbay validate` checks the flows
    // that use it before they run.
    declares: PATCHBAY_DECLARES_OUTPUTS | PATCHBAY_DECLARES_TABLES,
    output_count: 0,
    output_names: std::ptr::null(),
    output_table_count: 1,
    reserved_1_4: 0,
    output_tables: TABLES.0.as_ptr(),
};

/// The tables `run` writes. Raw pointers are not `Sync`: this wrapper states that the array is immutable.
struct Names<const N: usize>([*const std::ffi::c_char; N]);
unsafe impl<const N: usize> Sync for Names<N> {}
static TABLES: Names<1> = Names([c"out.greetings".as_ptr()]);

#[no_mangle]
pub extern "C" fn patchbay_abi_version() -> u32 {
    PATCHBAY_ABI_VERSION
}

#[no_mangle]
pub extern "C" fn patchbay_connector_entry(host: *const patchbay_host) -> *const patchbay_connector {
    HOST.store(host as *mut patchbay_host, Ordering::Release);
    &DESCRIPTOR
}
