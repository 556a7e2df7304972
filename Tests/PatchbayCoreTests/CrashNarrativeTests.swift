import PatchbayRunner
import Testing

/// The summary line of a crash, from stderr as each language's runtime writes it.
@Suite("A crash's summary is its message, never a backtrace frame")
struct CrashNarrativeTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let stderr: String
        let summary: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "a Rust panic (1.73 and later: the message on the next line)", stderr: """

            thread '<unnamed>' (29761) panicked at src/lib.rs:19:72:
            index out of bounds: the len is 0 but the index is 3
            note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
            thread caused non-unwinding panic. aborting.
            """, summary: "panicked at src/lib.rs:19:72: index out of bounds: the len is 0 but the index is 3"),
        Case(name: "a Rust panic (older: the message quoted inline)", stderr: """
            thread 'main' panicked at 'called `Option::unwrap()` on a `None` value', src/lib.rs:7:5
            note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace
            """, summary: "panicked at src/lib.rs:7:5: called `Option::unwrap()` on a `None` value"),
        Case(name: "a Rust panic with a backtrace", stderr: """
            thread '<unnamed>' panicked at src/lib.rs:3:9:
            the source sent garbage
            stack backtrace:
               0: rust_begin_unwind
                         at /rustc/abc/library/std/src/panicking.rs:652:5
               1: core::panicking::panic_fmt
               2: _start
            """, summary: "panicked at src/lib.rs:3:9: the source sent garbage"),
        Case(name: "a Swift fatalError, before the runtime's crash report", stderr: """
            MyConnector/Connector.swift:12: Fatal error: the invariant broke
            💣 Program crashed: System trap at 0x00007f3a1c2b4e5f
            Thread 0 "patchbay-runner" crashed:
            0 0x00007f3a1c2b4e5f in Connector.run() at MyConnector/Connector.swift:12
            """, summary: "MyConnector/Connector.swift:12: Fatal error: the invariant broke"),
        Case(name: "a C assertion", stderr: "patchbay-runner: my_connector.c:41: run: Assertion `rows >= 0' failed.\n",
             summary: "patchbay-runner: my_connector.c:41: run: Assertion `rows >= 0' failed."),
        Case(name: "a message, then abort()", stderr: "reading page 3\nassertion failed: the ledger does not balance\n",
             summary: "assertion failed: the ledger does not balance"),
        Case(name: "glibc's own words", stderr: "connected\nfree(): invalid pointer\n", summary: "free(): invalid pointer"),
        Case(name: "frames only: nothing to quote", stderr: "_start\n0x0 <unknown>\n#0 0x00007f in abort ()\n", summary: ""),
        Case(name: "no error word: the last line said", stderr: "fetched page 1\nfetched page 2\n", summary: "fetched page 2"),
    ]

    @Test("each runtime's crash text becomes its one telling line", arguments: cases)
    func summary(of example: Case) {
        #expect(CrashNarrative.summary(ofStandardError: example.stderr) == example.summary)
    }
}
