import PatchbayCore
import PatchbayRunner
import PatchbayWire
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Wait statuses as waitpid(2) writes them.
func exitedWith(_ code: Int32) -> Int32 { code << 8 }
func killedBy(_ signal: Int32) -> Int32 { signal }

@Suite("Exit classification: one pure function from evidence to what a user reads")
struct ExitClassificationTests {
    static let limits = TaskLimits(timeout: .seconds(5), memoryBytes: 64 << 20, cpuSeconds: 2, processes: 16)

    @Test("each kind of ending is told apart", arguments: [
        ("clean success", ExitEvidence(waitStatus: exitedWith(0), outcome: .succeeded(tables: [])), "succeeded"),
        ("success, then a non-zero exit", ExitEvidence(waitStatus: exitedWith(3), outcome: .succeeded(tables: [])), "exited"),
        ("the connector's own failure", ExitEvidence(waitStatus: exitedWith(0), outcome: .failed(.config, userMessage: "bad", internalMessage: "")), "failed"),
        ("not ready yet", ExitEvidence(waitStatus: exitedWith(0), outcome: .pending), "pending"),
        ("refused to load", ExitEvidence(waitStatus: exitedWith(0), outcome: .refusedToLoad(.notELF, detail: "x")), "refused_to_load"),
        ("a violation beats any report", ExitEvidence(waitStatus: exitedWith(0), outcome: .succeeded(tables: []), violation: "forged"), "protocol_violation"),
        ("the OOM killer beats any report", ExitEvidence(waitStatus: killedBy(SIGKILL), outcome: .succeeded(tables: []), outOfMemoryKills: 1), "out_of_memory"),
        ("a failure at pids.max", ExitEvidence(waitStatus: exitedWith(0), outcome: .failed(.system, userMessage: "fork", internalMessage: ""), processLimitHits: 2), "process_limit"),
        ("SIGSEGV", ExitEvidence(waitStatus: killedBy(SIGSEGV), phase: .running), "crashed"),
        ("SIGXCPU", ExitEvidence(waitStatus: killedBy(SIGXCPU), phase: .running), "crashed"),
        ("exit without a result", ExitEvidence(waitStatus: exitedWith(3), phase: .running), "exited"),
        ("died before the handshake", ExitEvidence(waitStatus: exitedWith(127), handshakeDone: false), "runner_unavailable"),
        ("deadline, then SIGTERM", ExitEvidence(waitStatus: killedBy(SIGTERM), stopReason: .deadline, stopStage: .terminateSent), "timed_out"),
        ("cancel, stopped when asked", ExitEvidence(waitStatus: exitedWith(0), outcome: .cancelled, stopReason: .cancelled, stopStage: .cancelRequested), "cancelled"),
        ("near the address-space limit without a memory cgroup", ExitEvidence(waitStatus: killedBy(SIGSEGV), peakMemoryBytes: 63 << 20), "out_of_memory"),
    ] as [(String, ExitEvidence, String)])
    func kinds(_ name: String, _ evidence: ExitEvidence, _ kind: String) {
        var evidence = evidence
        evidence.limits = Self.limits
        #expect(ExitClassification(evidence).kind == kind, "\(name)")
    }

    @Test("the wording names the signal, the phase and the connector's last words")
    func wording() {
        let crash = ExitClassification(ExitEvidence(waitStatus: killedBy(SIGSEGV), phase: .running, crashDetail: "null pointer", limits: Self.limits))
        #expect(crash.summary == "crashed with SIGSEGV (invalid memory access) in run(): null pointer")
        let cpu = ExitClassification(ExitEvidence(waitStatus: killedBy(SIGXCPU), phase: .running, limits: Self.limits))
        #expect(cpu.summary == "crashed with SIGXCPU (CPU time limit) in run(): CPU time limit of 2 s reached")
        let timeout = ExitClassification(ExitEvidence(waitStatus: killedBy(SIGKILL), stopReason: .deadline, stopStage: .killSent, limits: Self.limits))
        #expect(timeout.summary == "timed out after 5.0 s; it ignored SIGTERM and was killed with SIGKILL")
        let refused = ExitClassification(ExitEvidence(waitStatus: exitedWith(0), outcome: .refusedToLoad(.abiMajorMismatch, detail: "built for 2.0")))
        #expect(refused.summary == "refused to load (ABI major version mismatch): built for 2.0")
    }

    @Test("every classification carries the failure class a job records")
    func failureClasses() {
        #expect(ExitClassification.failed(.transient, message: "").failureClass == .transient)
        #expect(ExitClassification.outOfMemory(limitBytes: 1).failureClass == .config)
        #expect(ExitClassification.crashed(signal: SIGSEGV, phase: nil, detail: "").failureClass == .system)
        #expect(ExitClassification.timedOut(after: .seconds(1), how: .killSent).failureClass == .transient)
        #expect(ExitClassification.succeeded.failureClass == nil)
    }
}

@Suite("The vocabulary takes its numbers from the ABI header")
struct VocabularyTests {
    @Test("every job pattern round-trips through its ABI number, and unknown numbers are refused")
    func patterns() {
        for pattern in JobPattern.allCases { #expect(JobPattern(abi: pattern.abiValue) == pattern) }
        #expect(Set(JobPattern.allCases.map(\.abiValue)) == Set(1...7))
        #expect(JobPattern(abi: 0) == nil && JobPattern(abi: 8) == nil)
        #expect(JobPattern.statusCheck.name == "status_check")
    }

    @Test("failure classes and log levels round-trip; out-of-range numbers fall to the safe side")
    func classesAndLevels() {
        for failure in FailureClass.allCases { #expect(FailureClass(abi: failure.abiValue) == failure) }
        #expect(FailureClass(abi: 99) == .system)
        for level in LogLevel.allCases { #expect(LogLevel(abi: level.abiValue) == level) }
        #expect(LogLevel(abi: 0) == .debug && LogLevel(abi: 40) == .error)
        #expect(LogLevel.debug < .info && LogLevel.warning < .error)
    }

    @Test("capabilities are named in the header's order; unknown bits are shown, not dropped")
    func capabilities() {
        let caps = Capabilities(rawValue: Capabilities.readsTables.rawValue | Capabilities.state.rawValue | (1 << 40))
        #expect(caps.names == ["reads tables", "keeps state", "unknown bits 0x10000000000"])
    }

    @Test("callback statuses round-trip through their ABI numbers")
    func statuses() {
        for status in CallbackStatus.allCases { #expect(CallbackStatus(abi: status.abiValue) == status) }
        #expect(CallbackStatus(abi: 1000) == nil)
    }
}
